"""Issue 22 item 12: kubeconfig users as current EKS/GKE/AKS write them. An exec credential plugin of
`client.authentication.k8s.io/v1` works like v1beta1 (run with KUBERNETES_EXEC_INFO, its token sent); what is
not supported is a clear error (exit 2), never a traceback. Against the fake API server (tests/fakes/cluster)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fakes.cluster import FakeCluster
from support import REPO_ROOT, copy_samples, init_git, tool_env
from tars_tasks.deploy.kube import Kube
from tars_tasks.deploy.kubeauth import KubeConfigError

pytestmark = [pytest.mark.cluster]


@pytest.fixture
def cluster():
    with FakeCluster() as fake:
        yield fake


def plugin(tmp_path: Path, output: dict, exit_code: int = 0) -> Path:
    """An exec credential plugin that records KUBERNETES_EXEC_INFO and its arguments, then prints ``output``."""
    script = tmp_path / "bin" / "get-token"
    script.parent.mkdir(exist_ok=True)
    script.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                      f"with open({str(tmp_path / 'calls.jsonl')!r}, 'a') as f:\n"
                      "    f.write(json.dumps({'info': json.loads(os.environ['KUBERNETES_EXEC_INFO']), "
                      "'args': sys.argv[1:], 'region': os.environ.get('REGION')}) + '\\n')\n"
                      f"print(json.dumps({output!r}))\nsys.exit({exit_code})\n")
    script.chmod(0o755)
    return script


def with_user(cluster: FakeCluster, tmp_path: Path, user: dict) -> Path:
    path = cluster.kubeconfig(tmp_path / "kubeconfig")
    config = yaml.safe_load(path.read_text())
    config["users"] = [{"name": "fake", "user": user}]
    path.write_text(yaml.safe_dump(config))
    return path


def calls(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


V1 = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
      "status": {"token": "v1-token-Zx81", "expirationTimestamp": "2999-01-01T00:00:00Z"}}


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_an_exec_credential_plugin_of_v1_works_like_v1beta1(cluster, tmp_path, monkeypatch, version):
    api = f"client.authentication.k8s.io/{version}"
    command = plugin(tmp_path, {**V1, "apiVersion": api})
    exec_ = {"apiVersion": api, "command": str(command), "args": ["--cluster", "c1"],
             "env": [{"name": "REGION", "value": "eu-1"}], "interactiveMode": "Never", "provideClusterInfo": True}
    monkeypatch.setenv("KUBECONFIG", str(with_user(cluster, tmp_path, {"exec": exec_})))
    kube = Kube()
    assert kube.tserver("default", "nothing-here") is None  # a real request went through
    assert kube.pods("default", "A", "B") == []
    seen = calls(tmp_path)
    assert len(seen) == 1  # the token is kept until it expires
    assert seen[0] == {"info": {"apiVersion": api, "kind": "ExecCredential",
                                "spec": {"interactive": False, "cluster": {"server": cluster.url}}},
                       "args": ["--cluster", "c1"], "region": "eu-1"}


@pytest.mark.parametrize("user,message", [
    ({"auth-provider": {"name": "gcp"}}, "auth-provider 'gcp' is not supported"),
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v2", "command": "x"}},
     "exec apiVersion 'client.authentication.k8s.io/v2' is not supported"),
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "x", "interactiveMode": "Always"}},
     "exec interactiveMode Always needs a person at a terminal"),
    ({"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent/get-token",
               "installHint": "install it from the cloud's CLI"}},
     "exec credential plugin '/nonexistent/get-token' not found (install it from the cloud's CLI)"),
])
def test_an_unsupported_kubeconfig_user_is_a_clear_usage_error(cluster, tmp_path, monkeypatch, user, message):
    path = with_user(cluster, tmp_path, user)
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(KubeConfigError) as caught:
        Kube().tserver("default", "x")
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"kubeconfig {path}: {message}")


def test_a_plugin_returning_a_certificate_is_refused_and_its_token_never_shown(cluster, tmp_path, monkeypatch):
    command = plugin(tmp_path, {**V1, "status": {"clientCertificateData": "x", "clientKeyData": "y"}})
    monkeypatch.setenv("KUBECONFIG", str(with_user(cluster, tmp_path, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(command)}})))
    with pytest.raises(KubeConfigError, match="returned a client certificate: not supported"):
        Kube().tserver("default", "x")


def test_a_release_asks_for_its_lock_through_a_v1_exec_plugin_and_an_unsupported_user_exits_2(cluster, tmp_path,
                                                                                              monkeypatch):
    from tars_tasks.deploy.lock import ReleaseLock

    root = copy_samples(tmp_path / "mono")
    init_git(root)
    command = plugin(tmp_path, V1)
    path = with_user(cluster, tmp_path, {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                  "command": str(command), "interactiveMode": "IfAvailable"}})
    monkeypatch.setenv("KUBECONFIG", str(path))
    env = tool_env({"KUBECONFIG": str(path), "PYTHONPATH": str(REPO_ROOT)})

    def release() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "invoke", "release", "--all"], cwd=root, capture_output=True,
                              text=True, env=env, timeout=120)

    with ReleaseLock(Kube(), "tars", duration=600, who="another-run"):  # so the release stops at the lock
        ran = release()
        assert ran.returncode == 1, ran.stderr
        assert "namespace tars is being released by another-run" in ran.stderr  # it read the Lease
        assert "v1-token-Zx81" not in ran.stdout + ran.stderr
        path.write_text(path.read_text().replace("exec:", "auth-provider: {name: azure}\n    old-exec:"))
        bad = release()
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "Traceback" not in bad.stderr
    assert f"kubeconfig {path}: auth-provider 'azure' is not supported" in bad.stderr
