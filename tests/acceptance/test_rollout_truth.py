"""Records that cannot lie (state/verification.py): a revision is verified only when tracking proved it Ready;
a failed one is never inherited by later revisions; an interrupted or API-lost one is unverified and tracked
again by the next release, before its dependents; transient API errors while tracking are retried."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from clustermono import ClusterMono, name_of, sample_in_cluster
from fakes.cluster import Outcome
from fakes.cluster.resources import by_kind

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
NS = "tars"
LOG, HELLO = "Base.LogServer", "Base.HelloServer"  # HelloServer depends on LogServer


class Mono(ClusterMono):
    def start(self, *args: str, out: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=self.root, env=self.env,
                                stdout=(self.tmp / f"{out}.json").open("w"), stderr=(self.tmp / f"{out}.err").open("w"))

    def status(self, *args: str) -> dict[str, dict]:
        result = self("status", "--json", *args)
        assert result.stdout.startswith("{"), result.stderr
        return {s["id"]: s for s in json.loads(result.stdout)["services"]}

    def labels(self, sid: str, revision: int) -> dict[str, str]:
        secret = self.cluster.get("Secret", NS, f"sh.helm.release.v1.{name_of(sid)}.v{revision}")
        return secret["metadata"]["labels"]


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(Mono, tmp_path, cluster_registry, ready_after=0.2) as m:
        yield m


def test_a_fixed_failure_is_not_inherited_by_later_revisions(mono):
    mono.cluster.set_outcome(mono.image_of(LOG), Outcome.crashloop(delay=0.2, restart_period=0.2))
    result, services = mono.release("--service", LOG)
    assert result.returncode == 1 and services[LOG]["status"] == "failed"
    assert mono.labels(LOG, 1)["tars-tasks.io/rollout-1"] == "failed"
    assert mono.status("--service", LOG)[LOG]["verdict"] == "failed"
    mono.change(LOG)  # the fix: a new image that starts
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    assert services[LOG]["rollout"]["verification"] == "verified"
    labels = mono.labels(LOG, 2)
    assert labels["tars-tasks.io/rollout-2"] == "verified" and labels.get("tars-tasks.io/rollout-1") == "failed"
    assert mono.status("--service", LOG)[LOG]["verdict"] == "in sync"
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0 and services[LOG]["status"] == "unchanged", services[LOG]["reason"]
    history = json.loads(mono.helm("history", name_of(LOG), "-n", NS, "-o", "json"))
    assert [h["revision"] for h in history] == [1, 2]


def test_an_interrupted_rollout_is_unverified_and_the_next_release_tracks_it_before_its_dependents(mono):
    assert mono.release("--service", LOG, "--service", HELLO)[0].returncode == 0
    mono.change(LOG)
    new_image = mono.image_of(LOG)
    mono.cluster.set_outcome(new_image, Outcome.crashloop(delay=3, restart_period=0.2))
    proc = mono.start("release", "--json", "--service", LOG, "--with-dependents", out="first")
    mono.cluster.wait_for(lambda: any(p["spec"]["containers"][0]["image"] == new_image
                                      for p in mono.cluster.objects("Pod", NS)), timeout=240)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 130
    assert mono.status("--service", LOG)[LOG]["verdict"] == "unverified"
    plan = json.loads(mono("plan", "--json").stdout)
    reasons = {s["id"]: s["reasons"] for s in plan["services"]}
    assert reasons[LOG][0].startswith("last release is unverified (revision 2): never proved Ready")
    assert {s["id"]: s["verdict"] for s in plan["services"]}[LOG] == "unverified"
    result, services = mono.release("--with-dependents")
    assert result.returncode == 1
    log = services[LOG]
    assert log["status"] == "rolled-back" and log["rollout"]["retracked"] is True
    assert "CrashLoopBackOff" in log["reason"] and log["rollout"]["rolledBackTo"] == 1
    assert services[HELLO]["status"] == "skipped"
    assert mono.labels(LOG, 2)["tars-tasks.io/rollout-2"] == "failed"
    history = json.loads(mono.helm("history", name_of(LOG), "-n", NS, "-o", "json"))
    assert [h["revision"] for h in history] == [1, 2, 3]  # tracked again, not applied again


def test_a_transient_api_error_while_tracking_is_retried(mono):
    path = f"/apis/apps/v1/namespaces/{NS}/statefulsets"  # the watch's list and a tracker's own GET alike
    error, reset = mono.cluster.fail_request(path, nth=1), mono.cluster.fail_request(path, nth=2, kind="reset")
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    assert error.fired and reset.fired
    assert services[LOG]["status"] == "deployed" and services[LOG]["rollout"]["verification"] == "verified"


def test_crash_looping_pods_with_nothing_changed_are_unhealthy_and_status_exit_code_says_so(mono):
    assert mono.release("--service", LOG)[0].returncode == 0
    assert mono("status", "--service", LOG, "--exit-code").returncode == 0
    for pod in mono.cluster.objects("Pod", NS):  # the pods start crashing later, nothing deployed changed
        if pod["metadata"]["name"].startswith(name_of(LOG)):
            mono.cluster.set_outcome(f"pod:{pod['metadata']['name']}", Outcome.crashloop(delay=0.1,
                                                                                           restart_period=0.1))
            mono.cluster.store.delete(by_kind("Pod"), NS, pod["metadata"]["name"])  # the kubelet restarts it
    mono.cluster.wait_for(lambda: mono.status("--service", LOG)[LOG]["verdict"] == "unhealthy", timeout=30)
    state = mono.status("--service", LOG)[LOG]
    assert any("CrashLoopBackOff" in d for d in state["details"]), state
    result = mono("status", "--service", LOG, "--exit-code")
    assert result.returncode == 1 and "1 service(s) not in sync" in result.stderr


def test_deploy_of_an_unchanged_service_does_nothing_unless_forced(mono):
    assert mono.release("--service", LOG)[0].returncode == 0
    result = mono("deploy", "--service", LOG, "--json")
    services = {s["id"]: s for s in json.loads(result.stdout)["services"]}
    assert result.returncode == 0 and services[LOG]["status"] == "unchanged"
    result = mono("deploy", "--service", LOG, "--force", "--json")
    services = {s["id"]: s for s in json.loads(result.stdout)["services"]}
    assert result.returncode == 0 and services[LOG]["status"] == "deployed"
    history = json.loads(mono.helm("history", name_of(LOG), "-n", NS, "-o", "json"))
    assert [h["revision"] for h in history] == [1, 2]


def test_rolling_back_to_a_failed_revision_says_so(mono):
    assert mono.release("--service", LOG)[0].returncode == 0
    mono.change(LOG)
    mono.cluster.set_outcome(mono.image_of(LOG), Outcome.crashloop(delay=0.2, restart_period=0.2))
    assert mono.release("--service", LOG)[1][LOG]["status"] == "rolled-back"  # revision 2 failed, 3 = 1 again
    result = mono("rollback", "--service", LOG, "--to", "2", "--json")
    report = json.loads(result.stdout)["services"][0]
    assert result.returncode == 1
    assert "revision 2 failed its rollout when it was deployed" in report["reason"]
    assert report["warnings"] == ["revision 2 failed its rollout when it was deployed: it may fail again"]


def test_the_report_is_printed_when_the_lock_cannot_be_given_up(mono):
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/tars-tasks-release"
    assert mono.release("--service", LOG)[0].returncode == 0  # the Lease exists: taking it is a PUT
    mono.change(LOG)
    fault = mono.cluster.fail_request(lease, nth=2, kind="500", method="PUT")  # 1: take it, 2: give it up
    result, services = mono.release("--service", LOG)
    assert fault.fired
    assert result.returncode == 0, result.stderr
    assert services[LOG]["status"] == "deployed"
    report = json.loads(result.stdout)
    assert report["notes"][0].startswith("the release lock could not be given up (write Lease tars-tasks-release: "
                                         "500 ")
    assert "note: the release lock could not be given up" in result.stderr


def test_objects_deleted_by_hand_are_drift_in_status_diff_and_plan_and_a_release_recreates_them(mono):
    cart = "Shop.CartServer"
    result, _ = mono.release()
    assert result.returncode == 0, result.stderr
    app_config = next(c["metadata"]["name"] for c in mono.cluster.objects("TConfig", NS)
                      if c["metadata"]["name"].startswith("shop-cartserver-a-"))
    mono.cluster.store.delete(by_kind("TConfig"), NS, app_config)
    mono.cluster.store.delete(by_kind("TServer"), NS, name_of(LOG))
    states = mono.status()
    assert states[cart]["verdict"] == "drifted"
    gone = "config shop.conf: its deployed version is gone from the cluster (deleted outside helm): a release " \
           "recreates it"
    assert gone in states[cart]["details"]
    assert states[cart]["objects"] == [{"object": f"TConfig/{app_config}", "verdict": "missing", "detail": gone}]
    assert states[LOG]["verdict"] == "drifted"
    assert f"TServer/{name_of(LOG)} is gone from the cluster (deleted outside helm): a release recreates it" in \
        states[LOG]["details"]
    assert mono("diff", "--service", LOG, "--exit-code").returncode == 1
    assert mono("status", "--exit-code").returncode == 1
    diff = mono("diff", "--service", cart, "--exit-code")
    assert diff.returncode == 1 and f"# TConfig/{app_config}" in diff.stdout
    assert "+configName: shop.conf" in diff.stdout  # what a release would create again
    plan = {s["id"]: s for s in json.loads(mono("plan", "--json").stdout)["services"]}
    assert plan[cart]["changed"] and plan[cart]["reasons"][0] == \
        f"TConfig/{app_config} deleted from the cluster by hand: recreate"
    assert plan[LOG]["changed"] and plan[LOG]["reasons"][0].startswith(f"TServer/{name_of(LOG)} deleted")
    assert not plan["Base.AuthServer"]["changed"] and plan["Base.AuthServer"]["verdict"] == "in sync"
    assert plan[cart]["verdict"] == plan[LOG]["verdict"] == "drifted"  # the vocabulary of status
    result, services = mono.release()
    assert result.returncode == 0, result.stderr
    assert services[cart]["status"] == services[LOG]["status"] == "deployed"
    assert mono.cluster.get("TConfig", NS, app_config) is not None
    assert mono.cluster.get("TServer", NS, name_of(LOG)) is not None
    assert {s["verdict"] for s in mono.status().values()} == {"in sync"}


def test_a_persons_edits_are_reported_and_kept_unless_repair(mono):
    auth, hello = "Base.AuthServer", HELLO
    assert mono.release()[0].returncode == 0
    released_id = mono.cluster.get("TServer", NS, name_of(hello))["spec"]["release"]["id"]
    mono.cluster.store.mutate(by_kind("TServer"), NS, name_of(auth), lambda o: o["spec"]["k8s"].update(replicas=3))
    mono.cluster.store.mutate(by_kind("TServer"), NS, name_of(hello), lambda o: o["spec"]["release"].update(id="v2"))
    plan = json.loads(mono("plan", "--json").stdout)
    assert not any(s["changed"] for s in plan["services"])
    assert f"{auth}: changed in the cluster by hand (replicas 3 live, 2 declared): kept (--repair, or tars.drift: " \
           "repair, restores what git declares)" in plan["notes"]
    result, services = mono.release()
    assert result.returncode == 0 and services[auth]["status"] == services[hello]["status"] == "unchanged"
    assert mono.cluster.get("TServer", NS, name_of(auth))["spec"]["k8s"]["replicas"] == 3
    drifted = mono.status("--service", auth)[auth]
    assert drifted["verdict"] == "drifted" and drifted["objects"] == [
        {"object": f"TServer/{name_of(auth)}", "verdict": "drifted", "detail": "replicas 3 live, 2 declared"}]
    result, services = mono.release("--repair")
    assert result.returncode == 0, result.stderr
    assert services[auth]["status"] == services[hello]["status"] == "deployed"
    assert services[auth]["reason"].startswith("changed in the cluster by hand (replicas 3 live, 2 declared)")
    assert mono.cluster.get("TServer", NS, name_of(auth))["spec"]["k8s"]["replicas"] == 2
    assert mono.cluster.get("TServer", NS, name_of(hello))["spec"]["release"]["id"] == released_id
    assert services[auth]["rollout"]["ready"] == 2
    assert {s["verdict"] for s in mono.status().values()} == {"in sync"}


def test_when_the_api_server_dies_mid_release_the_report_is_still_printed(mono):
    mono.cluster.set_default_outcome(Outcome.ready(delay=30))  # tracking is under way when the server dies
    proc = mono.start("release", "--json", "--service", LOG, out="dying")
    mono.cluster.wait_for(lambda: mono.cluster.objects("Pod", NS), timeout=240)
    mono.cluster.go_down()
    assert proc.wait(timeout=120) == 1
    report = json.loads((mono.tmp / "dying.json").read_text())
    log = {s["id"]: s for s in report["services"]}[LOG]
    assert log["status"] == "failed" and (log.get("rollout") or {}).get("state") == "unverified", log["reason"]
    assert "revision 1 is unverified; the next release tracks it again" in log["reason"]
    assert report["notes"][0].startswith("the release lock could not be given up")


def test_tracking_watches_instead_of_polling(mono):
    """A rollout of 3 s: the tracker follows watches (a fixed number of requests), it does not poll pods."""
    mono.cluster.set_default_outcome(Outcome.ready(delay=3))
    start = len(mono.cluster.requests)
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    assert services[LOG]["rollout"]["ready"] == 2
    ours = [r for r in mono.cluster.requests[start:] if "python-httpx" in r.user_agent or "lightkube" in
            r.user_agent.lower()]
    pods = [r for r in ours if r.method == "GET" and r.path == f"/api/v1/namespaces/{NS}/pods"]
    watches = [r for r in pods if r.query.get("watch") in ("1", "true")]
    assert 1 <= len(watches) <= 3, [(r.path, r.query) for r in pods]
    assert len(pods) - len(watches) <= 3, [(r.path, r.query) for r in pods]  # lists: the informer's, not a poll
