"""The sample monorepo wired to the fake cluster (tests/fakes/cluster), a registry of its own and the real
helm: what the acceptance tests of deploys, operations, run safety and upstream values share."""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from fakes.cluster import FakeCluster, Outcome
from support import REPO_ROOT, RegistryProcess, copy_samples, init_git, new_namespace, tool_env

FRAMEWORK_NAMESPACES = ("default", "kube-system", "tars", "tars-staging", "tars-prod")
CI_VARS = ("CI", "GITLAB_USER_LOGIN", "GITHUB_ACTOR", "CI_PIPELINE_URL", "CI_JOB_ID", "GITHUB_RUN_ID",
           "GITHUB_SERVER_URL", "GITHUB_REPOSITORY")


def name_of(sid: str) -> str:
    """`Base.HelloServer` -> `base-helloserver`: its helm release, TServer and workload."""
    return sid.replace(".", "-").lower()


def helm_binary() -> str:
    from tars_tasks.core.settings import Settings

    return Settings.from_mapping({"root": str(REPO_ROOT)}).helm_binary()


class ClusterMono:
    """`mono("release", "--json")` runs `invoke` in the monorepo against the fake cluster; the machine's own
    CI variables are left out so that release records do not depend on where the tests run."""

    def __init__(self, root: Path, cluster: FakeCluster, registry: RegistryProcess, tmp: Path):
        self.root, self.cluster, self.tmp = root, cluster, tmp
        self.kubeconfig = str(cluster.kubeconfig(tmp / "kc"))
        env = {k: v for k, v in tool_env().items() if k not in CI_VARS}  # this checkout first on the path
        # images under a repository namespace of the registry's (cluster_registry: the module's) or the test's own:
        # another user of the registry cannot collide
        namespace = getattr(registry, "namespace", "") or new_namespace()
        self.env = {**env, "KUBECONFIG": self.kubeconfig, "INVOKE_TARS_REGISTRY": f"{registry.host}/{namespace}",
                    "INVOKE_TARS_HELM_TIMEOUT": "20s",
                    **{f"HELM_{k}_HOME": str(tmp / f"helm-{k.lower()}") for k in ("CACHE", "CONFIG", "DATA")}}

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, capture_output=True, text=True,
                              env={**self.env, **env}, timeout=300)

    def release(self, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], dict]:
        """`invoke release --json ARGS`: the process and its report's services by id."""
        result = self("release", "--json", *args, **env)
        report = json.loads(result.stdout) if result.stdout.startswith("{") else {}
        return result, {s["id"]: s for s in report.get("services", [])}

    def own_images(self) -> None:
        """Images under a repository namespace of this test's own, not the module's: none are in the registry yet."""
        self.env["INVOKE_TARS_REGISTRY"] = f"{self.env['INVOKE_TARS_REGISTRY'].split('/', 1)[0]}/{new_namespace()}"

    def image_of(self, sid: str) -> str:
        plan = json.loads(self("plan", "--json", "--service", sid).stdout)
        return plan["services"][0]["image"]

    def change(self, sid: str) -> None:
        (self.root / "services" / sid.replace(".", "/") / "changed.txt").write_text("a new release\n")

    def commit(self, subject: str) -> str:
        for argv in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", subject]):
            subprocess.run(argv, cwd=self.root, check=True, capture_output=True)
        return subprocess.run(["git", "log", "-1", "--format=%h"], cwd=self.root, check=True, capture_output=True,
                              text=True).stdout.strip()

    def log(self, sid: str) -> str:
        return (self.root / "dist" / "logs" / f"{sid}.deploy.log").read_text()

    def helm(self, *args: str) -> str:
        return subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=self.env, check=True).stdout


@contextlib.contextmanager
def sample_in_cluster(cls: type[ClusterMono], tmp: Path, registry: RegistryProcess,
                      ready_after: float, tconfig_guard: float = 2.0) -> Iterator[ClusterMono]:
    """A git copy of the sample monorepo and a fake cluster whose pods are Ready ``ready_after`` seconds in; the
    framework's TConfig deletion guard is ``tconfig_guard`` seconds instead of 48."""
    root = copy_samples(tmp / "mono")
    init_git(root)
    # K8SFramework is installed in the sample's namespaces (its TTemplates are there before the first release)
    with FakeCluster(default_outcome=Outcome.ready(delay=ready_after), tconfig_guard=tconfig_guard,
                     namespaces=FRAMEWORK_NAMESPACES) as cluster:
        yield cls(root, cluster, registry, tmp)
