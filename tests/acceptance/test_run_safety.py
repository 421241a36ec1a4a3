"""Run safety against the fake cluster with the real helm: one release at a time per namespace (a Lease),
signals, stuck and failed releases, `--since` that does not forget what the cluster runs, `deploy` of a
service whose dependencies are missing. The fixtures follow test_deploy_tracking.py."""
from __future__ import annotations

import base64
import gzip
import json
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from clustermono import ClusterMono, name_of, sample_in_cluster
from fakes.cluster import FakeCluster, Outcome

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

NS = "tars"
LEASE = "tars-tasks-release"
ALL = ["Base.AuthServer", "Base.HelloServer", "Base.LogServer", "Shop.CartServer", "Shop.OrderServer",
       "Shop.PayServer", "Shop.WebGateway"]


class Mono(ClusterMono):
    """Also: runs in the background, helm revisions, the lease holder, helm children left running."""

    def start(self, *args: str, out: str, **env: str) -> subprocess.Popen:
        """`invoke ARGS` in the background, stdout to tmp/OUT.json and stderr to tmp/OUT.err."""
        stdout = (self.tmp / f"{out}.json").open("w")
        stderr = (self.tmp / f"{out}.err").open("w")
        return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=self.root, stdout=stdout, stderr=stderr,
                                env={**self.env, **env})

    def output(self, out: str) -> tuple[dict, str]:
        text = (self.tmp / f"{out}.json").read_text()
        return json.loads(text) if text.startswith("{") else {}, (self.tmp / f"{out}.err").read_text()

    def revisions(self, sid: str) -> list[int]:
        """Helm's revisions of a service's release, from its release Secrets."""
        prefix = f"sh.helm.release.v1.{name_of(sid)}.v"
        return sorted(int(s["metadata"]["name"][len(prefix):]) for s in self.cluster.objects("Secret", NS)
                      if s["metadata"]["name"].startswith(prefix))

    def lease_holder(self) -> str:
        lease = self.cluster.get("Lease", NS, LEASE)
        return ((lease or {}).get("spec") or {}).get("holderIdentity") or ""

    def helm_children(self) -> list[int]:
        """Processes still running with this test's kubeconfig in their environment (helm children)."""
        pids = []
        marker = f"KUBECONFIG={self.kubeconfig}".encode()
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0"):
                    cmd = (entry / "cmdline").read_bytes().split(b"\0")[0]
                    if cmd.endswith(b"helm"):
                        pids.append(int(entry.name))
            except OSError:
                continue
        return pids


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(Mono, tmp_path, cluster_registry, ready_after=0.3) as m:
        yield m


def test_sigterm_mid_release_reports_interrupted_leaves_nothing_pending_and_a_rerun_finishes(mono):
    mono.cluster.set_default_outcome(Outcome.ready(delay=4))  # pods take a while: the signal lands mid-release
    proc = mono.start("release", "--json", out="first")
    mono.cluster.wait_for(lambda: mono.cluster.objects("TServer", NS), timeout=240)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 143
    report, stderr = mono.output("first")
    assert report["interrupted"] is True and report["ok"] is False
    statuses = {s["id"]: s["status"] for s in report["services"]}
    assert sorted(statuses) == ALL
    assert "interrupted" in statuses.values()
    assert set(statuses.values()) <= {"deployed", "interrupted"}
    assert "interrupted by SIGTERM" in stderr
    assert json.loads(mono.helm("list", "-n", NS, "--pending", "-o", "json")) == []
    assert mono.helm_children() == []
    assert mono.lease_holder() == ""
    mono.cluster.set_default_outcome(Outcome.ready(delay=0.3))
    result, services = mono.release()
    assert result.returncode == 0, result.stderr
    assert {s["status"] for s in services.values()} <= {"deployed", "unchanged"}
    assert mono.lease_holder() == ""


def test_two_releases_at_once_one_fails_naming_the_holder_one_waits_and_nothing_is_upgraded_twice(mono):
    mono.cluster.set_default_outcome(Outcome.ready(delay=1))
    first = mono.start("release", "--json", out="first", CI_JOB_ID="4711")
    mono.cluster.wait_for(mono.lease_holder, timeout=60)
    assert mono.lease_holder().endswith(f" pid {first.pid} CI job 4711")
    refused = mono("release", "--json")
    assert refused.returncode == 1
    assert f"error: namespace tars is being released by {mono.lease_holder()} since " in refused.stderr
    assert "wait for it with --lock-timeout SECONDS" in refused.stderr
    waiting = mono.start("release", "--json", "--lock-timeout", "300", out="waiting")
    assert first.wait(timeout=300) == 0, mono.output("first")[1]
    assert waiting.wait(timeout=300) == 0, mono.output("waiting")[1]
    report, _ = mono.output("waiting")
    assert {s["id"]: s["status"] for s in report["services"]} == dict.fromkeys(ALL, "unchanged")
    assert {sid: mono.revisions(sid) for sid in ALL} == {sid: [1] for sid in ALL}
    assert mono.lease_holder() == ""


def make_pending(mono: Mono, sid: str, age: timedelta) -> None:
    """Helm's record of a new revision left pending-upgrade ``age`` ago, as a killed helm leaves it."""
    name = name_of(sid)
    last = mono.revisions(sid)[-1]
    secret = mono.cluster.get("Secret", NS, f"sh.helm.release.v1.{name}.v{last}")
    body = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    when = (datetime.now(timezone.utc) - age).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body["version"] = last + 1
    body["info"] = {**body["info"], "status": "pending-upgrade", "last_deployed": when, "description": "killed"}
    data = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(body).encode()))).decode()
    labels = {**secret["metadata"]["labels"], "status": "pending-upgrade", "version": str(last + 1)}
    mono.cluster.create({"apiVersion": "v1", "kind": "Secret", "type": secret["type"], "data": {"release": data},
                         "metadata": {"name": f"sh.helm.release.v1.{name}.v{last + 1}", "namespace": NS,
                                      "labels": labels}})


def test_a_stuck_release_is_recovered_when_old_and_named_when_new(mono):
    assert mono.release("--service", "Base.LogServer")[0].returncode == 0
    make_pending(mono, "Base.LogServer", timedelta(seconds=5))
    result, services = mono.release("--service", "Base.LogServer")
    assert result.returncode == 1
    assert services["Base.LogServer"]["status"] == "failed"
    assert services["Base.LogServer"]["reason"].startswith(
        "deploy: helm release base-logserver is pending-upgrade (revision 2, ")
    assert services["Base.LogServer"]["reason"].endswith(
        "s old): a helm may still be working on it; if none is, clear it with `helm rollback base-logserver 1 -n "
        "tars` (this tool does so itself once it is older than tars.helm_timeout 20s)")
    make_pending(mono, "Base.LogServer", timedelta(hours=1))  # revision 3 over the young one: helm was killed long ago
    result, services = mono.release("--service", "Base.LogServer")
    assert result.returncode == 0, result.stderr
    log = services["Base.LogServer"]
    assert log["status"] == "deployed"
    assert log["reason"] == ("last release is pending-upgrade: redo it; release was left pending-upgrade (revision 3): "
                             "rolled back to revision 1 first")
    assert log["rollout"]["recovered"] == {"status": "pending-upgrade", "revision": 3,
                                           "action": "rolled back to revision 1"}
    assert json.loads(mono.helm("list", "-n", NS, "--pending", "-o", "json")) == []


def test_since_includes_what_the_cluster_lacks_or_failed_then_its_dependents(mono):
    mono.own_images()  # a first --since on a new cluster and an empty registry namespace
    image = json.loads(mono("plan", "--json", "--service", "Shop.CartServer", "--dry-run").stdout)["services"][0]
    mono.cluster.set_outcome(image["image"], Outcome.ready(delay=5))  # not ready within 2s: the rollout fails
    result, services = mono.release("--since", "HEAD", "--with-dependents", INVOKE_TARS_HELM_TIMEOUT="2s")
    assert result.returncode == 1
    assert services["Base.LogServer"]["status"] == "deployed"
    assert services["Base.LogServer"]["reason"] == "not deployed here; image tag not in registry"
    assert services["Shop.CartServer"]["status"] == "failed"
    assert {services[s]["status"] for s in ("Shop.OrderServer", "Shop.WebGateway")} == {"skipped"}
    result, services = mono.release("--since", "HEAD", "--with-dependents")
    assert result.returncode == 0, result.stderr
    assert services["Shop.CartServer"]["status"] == "deployed"
    assert services["Shop.CartServer"]["reason"] == "last release failed"
    assert services["Shop.OrderServer"]["reason"] == "not deployed here"
    assert services["Base.LogServer"]["status"] == "unchanged"
    cart_ready = max(t.time for t in mono.cluster.server_transitions if t.server == "shop-cartserver" and t.ready)
    assert cart_ready < mono.cluster.first_created("TServer", "shop-orderserver", NS)


def test_deploy_of_a_service_without_its_dependencies_is_refused_unless_forced(mono):
    result = mono("deploy", "--service", "Shop.WebGateway", "--json")
    assert result.returncode == 2
    assert ("error: Shop.WebGateway: dependencies not deployed in namespace tars: Base.AuthServer, Base.HelloServer, "
            "Base.LogServer, Shop.CartServer, Shop.OrderServer, Shop.PayServer; deploy them first with --with-deps "
            "(or --force to deploy anyway)") in result.stderr
    assert mono.cluster.objects("TServer", NS) == []
    forced = mono("deploy", "--service", "Shop.WebGateway", "--force", "--json")
    assert forced.returncode == 0, forced.stderr
    assert [t["metadata"]["name"] for t in mono.cluster.objects("TServer", NS)] == ["shop-webgateway"]


def test_an_all_zero_base_is_content_mode_and_plan_since_works_without_a_cluster(mono, tmp_path):
    zero = "0" * 40
    plan = json.loads(mono("plan", "--since", zero, "--json").stdout)
    assert plan["notes"] == [f"--since: the base commit {zero[:8]}… is all zeros (a new branch or a manually "
                             "started pipeline); compared with the cluster instead (content mode)"]
    assert {s["reasons"][0] for s in plan["services"]} == {"not deployed in namespace tars"}
    never = FakeCluster()  # never started, and its socket closed: nothing listens, connections are refused
    gone = never.kubeconfig(tmp_path / "gone")
    never.api.httpd.server_close()
    offline = mono("plan", "--since", "HEAD", "--json", KUBECONFIG=str(gone), INVOKE_TARS_HELM_READ_TIMEOUT="5s")
    assert offline.returncode == 0, offline.stderr
    plan = json.loads(offline.stdout)
    assert plan["notes"] == ["cluster not reachable: planned from git alone (failed or missing releases are not seen)"]
    assert [s["changed"] for s in plan["services"]] == [False] * 7
    refused = mono("release", "--since", "HEAD", KUBECONFIG=str(gone), INVOKE_TARS_HELM_READ_TIMEOUT="5s")
    assert refused.returncode == 2
    assert "cluster not reachable (use --dry-run to work without one)" in refused.stderr


def test_helm_reads_time_out_quickly(mono, tmp_path):
    hung = tmp_path / "hung.py"  # an API server that accepts and never answers
    hung.write_text("import socket, time\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(50)\n"
                    "print(s.getsockname()[1], flush=True)\nconns = []\nwhile True:\n    conns.append(s.accept())\n")
    server = subprocess.Popen([sys.executable, str(hung)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        config = tmp_path / "hung-kc"
        config.write_text(Path(mono.kubeconfig).read_text().replace(f":{mono.cluster.port}", f":{port}"))
        result = mono("plan", "--json", KUBECONFIG=str(config), INVOKE_TARS_HELM_READ_TIMEOUT="3s")
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 2
    assert "timed out after 3s" in result.stderr
