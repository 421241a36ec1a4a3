"""Upstream-style services against the fake cluster with the real helm: a pinned image is deployed without a
build, and each TImage release carries its record (who, when, why), kept across upgrades of the same release."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fakes.cluster import FakeCluster, Outcome
from support import REPO_ROOT, RegistryProcess, copy_samples, init_git

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

PINNED = "Up.PinnedServer"
CI_VARS = ("GITLAB_USER_LOGIN", "GITHUB_ACTOR", "CI_PIPELINE_URL", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY",
           "GITHUB_RUN_ID")


class Mono:
    """The sample monorepo wired to a fake cluster, a registry of its own and the real helm (as in
    test_deploy_tracking.py), with no CI variables of the machine running the tests."""

    def __init__(self, root: Path, cluster: FakeCluster, registry: RegistryProcess, tmp: Path):
        self.root, self.cluster = root, cluster
        env = {k: v for k, v in os.environ.items() if k not in CI_VARS}
        self.env = {**env, "PYTHONPATH": str(REPO_ROOT), "KUBECONFIG": str(cluster.kubeconfig(tmp / "kc")),
                    "INVOKE_TARS_REGISTRY": registry.host, "INVOKE_TARS_HELM_TIMEOUT": "20s",
                    **{f"HELM_{k}_HOME": str(tmp / f"helm-{k.lower()}") for k in ("CACHE", "CONFIG", "DATA")}}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, capture_output=True, text=True,
                              env={**self.env, **env}, timeout=300)

    def release(self, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict]:
        result = self("release", "--json", *args, **env)
        report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
        return result, {s["id"]: s for s in report.get("services", [])}

    def commit(self, subject: str) -> str:
        for argv in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", subject]):
            subprocess.run(argv, cwd=self.root, check=True, capture_output=True)
        return subprocess.run(["git", "log", "-1", "--format=%h"], cwd=self.root, check=True, capture_output=True,
                              text=True).stdout.strip()

    def releases(self) -> list[dict]:
        return self.cluster.get("TImage", "tars", "up-pinnedserver")["releases"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = RegistryProcess(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def mono(tmp_path, registry):
    root = copy_samples(tmp_path / "mono")
    init_git(root)
    with FakeCluster(default_outcome=Outcome.ready(delay=0.2)) as cluster:
        yield Mono(root, cluster, registry, tmp_path)


def pin_copy(mono: Mono, built: str) -> str:
    """A copy of an image this tool built, in a repository of its own (up/pinned:v1): what a pinned
    service deploys (no two services may name one repository)."""
    import docker

    client = docker.from_env()
    host = mono.env["INVOKE_TARS_REGISTRY"]
    client.images.get(built).tag(f"{host}/up/pinned", "v1")
    for line in client.images.push(f"{host}/up/pinned", "v1", stream=True, decode=True):
        assert "error" not in line, line
    client.images.remove(f"{host}/up/pinned:v1")
    return f"{host}/up/pinned:v1"


def pinned_service(mono: Mono, image: str, body: str = "") -> Path:
    values = mono.root / "services" / "Up" / "PinnedServer" / "values.yaml"
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(f"app: Up\nserver: PinnedServer\ntemplate: tars.cpp\nprofile:\nenvVars:\nconfig:\n"
                      f"servants:\n  - {{name: PinObj, port: 10000}}\nreplicas: 1\n"
                      f"repo:\n  id: rel-1\n  image: {image}\n  secret:\n{body}")
    return values


def test_a_pinned_image_is_deployed_without_a_build_and_keeps_its_release_record(mono):
    first, services = mono.release("--service", "Base.LogServer")
    assert first.returncode == 0, first.stderr
    image = pin_copy(mono, services["Base.LogServer"]["image"])
    values = pinned_service(mono, image)
    mono.commit("Pin the log image")

    result, services = mono.release("--service", PINNED, "--user", "alice", "--reason", "first rollout")
    assert result.returncode == 0, result.stderr
    pinned = services[PINNED]
    assert pinned["status"] == "deployed" and pinned["image"] == image
    assert "build" not in pinned["steps"] and set(pinned["steps"]) == {"chart", "deploy"}
    assert f"pinned image {image}: not built" in pinned["reason"]
    tserver = mono.cluster.get("TServer", "tars", "up-pinnedserver")
    assert tserver["spec"]["release"] == {"id": "rel-1", "image": image}
    [record] = mono.releases()
    created = record.pop("createTime")
    assert record == {"id": "rel-1", "image": image, "createPerson": "alice", "mark": "first rollout"}

    # an upgrade of the same release (replicas changed): its record stays the one of its first deploy
    values.write_text(values.read_text().replace("replicas: 1", "replicas: 2"))
    short = mono.commit("Two log pinners")
    result, services = mono.release("--service", PINNED, "--user", "bob")
    assert result.returncode == 0, result.stderr
    assert mono.releases() == [{"id": "rel-1", "image": image, "createPerson": "alice", "mark": "first rollout",
                                "createTime": created}]

    # a rerun with nothing changed (other flags, other CI) deploys nothing
    plan = json.loads(mono("plan", "--json", "--service", PINNED, GITLAB_USER_LOGIN="someone").stdout)
    assert [(s["changed"], s["reasons"]) for s in plan["services"]] == [(False, ["cluster runs this release"])]

    # a new release id: filled from the CI's variables and git, the earlier release kept below it
    values.write_text(values.read_text().replace("id: rel-1", "id: rel-2"))
    short = mono.commit("Second pinned release")
    url = "https://gitlab.example.com/shop/-/pipelines/991"
    result, _ = mono.release("--service", PINNED, GITLAB_USER_LOGIN="gl-user", CI_PIPELINE_URL=url)
    assert result.returncode == 0, result.stderr
    newest, earlier = mono.releases()
    assert newest.pop("createTime") >= created
    assert newest == {"id": "rel-2", "image": image, "createPerson": "gl-user",
                      "mark": f"Second pinned release ({short}) {url}"}
    assert earlier == {"id": "rel-1", "image": image, "createPerson": "alice", "mark": "first rollout",
                       "createTime": created}


def test_user_and_reason_in_values_yaml_fill_the_record(mono):
    first, services = mono.release("--service", "Base.LogServer")
    assert first.returncode == 0, first.stderr
    image = pin_copy(mono, services["Base.LogServer"]["image"])
    pinned_service(mono, image, body="user: ci-bot\nreason: release 6 from the upstream pipeline\n")
    mono.commit("Pin with user and reason")
    result, services = mono.release("--service", PINNED, GITHUB_ACTOR="octo")
    assert result.returncode == 0, result.stderr
    [record] = mono.releases()
    assert (record["createPerson"], record["mark"]) == ("ci-bot", "release 6 from the upstream pipeline")
