"""Canary releases against the fake cluster (deploy/canary.py): the StatefulSet partition moves the new revision
onto a few pods at a time; a bad image or a failing check backs out to the previous revision."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from clustermono import ClusterMono, name_of, sample_in_cluster
from fakes.cluster import Outcome

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
NS = "tars"
LOG, HELLO = "Base.LogServer", "Base.HelloServer"  # HelloServer depends on LogServer
POD = name_of(LOG)


class Mono(ClusterMono):
    def set_replicas(self, sid: str, replicas: int) -> None:
        values = self.root / "services" / sid.replace(".", "/") / "values.yaml"
        values.write_text(values.read_text().replace("replicas: 2\n", f"replicas: {replicas}\n"))

    def pods(self) -> dict[str, dict]:
        return {p["metadata"]["name"]: p for p in self.cluster.objects("Pod", NS)
                if p["metadata"]["name"].startswith(POD + "-")}

    def all_ready_on(self, image: str, count: int) -> bool:
        pods = self.pods().values()
        return len(pods) == count and all(
            p["spec"]["containers"][0]["image"] == image and any(
                c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
            for p in pods)


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(Mono, tmp_path, cluster_registry, ready_after=0.2) as m:
        m.set_replicas(LOG, 4)
        result, _ = m.release("--service", LOG, "--service", HELLO)
        assert result.returncode == 0, result.stderr
        yield m


def counts(step: dict) -> list[int]:
    return sorted(step["pods"].values())


def test_a_good_canary_passes_each_partition_in_order_and_is_verified(mono):
    mono.change(LOG)
    result, services = mono.release("--service", LOG, "--canary", "25,50,100")
    assert result.returncode == 0, result.stderr
    log = services[LOG]
    assert log["status"] == "deployed"
    steps = log["rollout"]["canary"]["steps"]
    assert [(s["step"], s["percent"], s["partition"], s["updated"], s["state"]) for s in steps] == [
        (1, 25, 3, 1, "ready"), (2, 50, 2, 2, "ready"), (3, 100, 0, 4, "ready")]
    assert [counts(s) for s in steps] == [[1, 3], [2, 2], [4]]  # pods per revision after each step
    assert [s.get("verification") for s in steps[:2]] == ["verified", "verified"]  # each step's partition Ready
    new = next(iter(steps[-1]["pods"]))
    assert steps[0]["pods"][new] == 1 and steps[1]["pods"][new] == 2  # one revision grows step by step
    assert log["rollout"]["verification"] == "verified"
    history = json.loads(mono.helm("history", name_of(LOG), "-n", NS, "-o", "json"))
    assert [h["revision"] for h in history] == [1, 2, 3, 4]  # a helm revision per step: the record says the truth
    secret = mono.cluster.get("Secret", NS, f"sh.helm.release.v1.{name_of(LOG)}.v4")
    assert secret["metadata"]["labels"]["tars-tasks.io/rollout-4"] == "verified"
    # the partitions were applied in order, highest ordinals first: the replaced pods, in the order replaced
    replaced = [t.pod for t in mono.cluster.pod_transitions if t.deleted and t.pod.startswith(POD + "-")
                and t.time > mono.cluster.first_created("Secret", f"sh.helm.release.v1.{name_of(LOG)}.v2", NS)]
    assert replaced == [f"{POD}-3", f"{POD}-2", f"{POD}-1", f"{POD}-0"]
    assert "canary step 1/3 (25%): revision 2, partition 3" in mono.log(LOG)


def test_a_bad_image_never_reaches_more_than_the_first_step_and_everything_ends_on_the_old_revision(mono):
    old_image = mono.image_of(LOG)
    mono.change(LOG)
    bad = mono.image_of(LOG)
    mono.cluster.set_outcome(bad, Outcome.crashloop(delay=0.1, restart_period=0.1))
    result, services = mono.release("--service", LOG, "--with-dependents", "--canary", "25,50,100")
    assert result.returncode == 1
    log = services[LOG]
    assert log["status"] == "aborted"
    assert log["reason"].startswith("deploy: canary aborted at step 1/3 (25%): cannot become ready (ready 0/1): "
                                    f"{POD}-3: CrashLoopBackOff"), log["reason"]
    assert log["reason"].endswith("; rolled back to revision 1")
    assert log["rollout"]["canary"]["aborted"]["step"] == 1 and log["rollout"]["rolledBackTo"] == 1
    ran_bad = {t.pod for t in mono.cluster.pod_transitions if t.image == bad}
    assert ran_bad == {f"{POD}-3"}  # never more than the first step's one pod
    assert mono.all_ready_on(old_image, 4)
    assert log["rollout"]["rollback"]["state"] == "ready"


def test_a_failing_check_aborts_at_step_2_and_dependents_are_skipped(mono):
    old_image = mono.image_of(LOG)
    values = mono.root / "services" / "Base" / "LogServer" / "values.yaml"
    values.write_text(values.read_text() + "canary:\n  steps: [25, 50, 100]\n  check: [sh, check.sh]\n")
    (values.parent / "check.sh").write_text(
        'echo "$TARS_CANARY_STEP $TARS_CANARY_UPDATED/$TARS_CANARY_REPLICAS $TARS_SERVER $TARS_NAMESPACE" '
        '>> "$CHECK_OUT"\n[ "$TARS_CANARY_STEP" = 1 ] || { echo "error rate too high"; exit 1; }\n')
    assert mono.image_of(LOG) != old_image  # a new image: a new pod revision
    result, services = mono.release("--service", LOG, "--with-dependents", CHECK_OUT=str(mono.tmp / "checks"))
    assert result.returncode == 1, result.stderr
    log = services[LOG]
    assert log["status"] == "aborted"
    assert log["reason"] == ("deploy: canary aborted at step 2/3 (50%): check sh check.sh failed (error rate too high); "
                             "rolled back to revision 1")
    steps = log["rollout"]["canary"]["steps"]
    assert [(s["step"], s["check"]["exitCode"]) for s in steps] == [(1, 0), (2, 1)]
    assert (mono.tmp / "checks").read_text() == f"1 1/4 {POD} {NS}\n2 2/4 {POD} {NS}\n"
    assert services[HELLO]["status"] == "skipped"
    mono.cluster.wait_for(lambda: mono.all_ready_on(old_image, 4), timeout=30)
    assert Counter(p["metadata"]["labels"]["controller-revision-hash"] for p in mono.pods().values()).most_common(1)[
        0][1] == 4
    assert "check| error rate too high" in mono.log(LOG)


def declare(mono: Mono, body: str) -> None:
    """Declare a canary and change the image (values alone make no new pod revision: no canary)."""
    values = mono.root / "services" / "Base" / "LogServer" / "values.yaml"
    values.write_text(values.read_text() + body)
    mono.change(LOG)


def annotation(mono: Mono) -> dict | None:
    raw = (mono.cluster.get("TServer", NS, POD)["metadata"].get("annotations") or {}).get("tars-tasks.io/canary")
    return json.loads(raw) if raw else None


def revisions(mono: Mono) -> list[int]:
    return sorted(Counter(p["metadata"]["labels"]["controller-revision-hash"] for p in mono.pods().values()).values())


def test_manual_pause_is_recorded_refuses_another_release_and_promote_goes_on(mono):
    declare(mono, "canary:\n  steps: [25, 50, 100]\n  pause: manual\n")
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    assert services[LOG]["status"] == "paused", mono.log(LOG)
    assert services[LOG]["reason"] == (
        "deploy: canary 1/3 of Base.LogServer is paused (revision 2): `invoke promote --service Base.LogServer` goes "
        "on, `invoke abort --service Base.LogServer` backs out to revision 1")
    assert revisions(mono) == [1, 3]
    assert {k: annotation(mono)[k] for k in ("step", "of", "revision", "previous")} == {
        "step": 1, "of": 3, "revision": 2, "previous": 1}
    state = json.loads(mono("status", "--json", "--service", LOG).stdout)["services"][0]
    assert state["verdict"] == "canary" and state["details"][0].startswith("canary 1/3 of Base.LogServer is paused")

    result, services = mono.release()  # nothing changed in the repo: the paused canary is left as it is
    assert result.returncode == 0 and services[LOG]["status"] == "unchanged", result.stderr
    extra = mono.root / "services" / "Base" / "LogServer" / "more.txt"
    extra.write_text("another change\n")
    result, services = mono.release("--service", LOG)
    assert result.returncode == 1 and services[LOG]["status"] == "failed"
    assert "canary 1/3 of Base.LogServer is paused" in services[LOG]["reason"]
    assert revisions(mono) == [1, 3]  # nothing else applied
    extra.unlink()

    result = mono("promote", "--service", LOG, "--step", "2", "--json")
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["services"][0]
    assert service["status"] == "paused" and revisions(mono) == [2, 2] and annotation(mono)["step"] == 2
    result = mono("promote", "--service", LOG, "--json")
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["services"][0]
    assert service["status"] == "deployed" and service["rollout"]["verification"] == "verified"
    assert [s["step"] for s in service["rollout"]["canary"]["steps"]] == [3]
    assert revisions(mono) == [4] and annotation(mono) is None
    assert json.loads(mono("status", "--json", "--service", LOG).stdout)["services"][0]["verdict"] == "in sync"


def test_abort_backs_a_paused_canary_out_to_the_previous_revision(mono):
    old_image = mono.image_of(LOG)
    declare(mono, "canary:\n  steps: [50, 100]\n  pause: manual\n")
    assert mono.release("--service", LOG)[1][LOG]["status"] == "paused"
    assert revisions(mono) == [2, 2]
    result = mono("abort", "--service", LOG, "--json")
    assert result.returncode == 0, result.stderr
    service = json.loads(result.stdout)["services"][0]
    assert service["status"] == "aborted"
    assert "aborted by hand (invoke abort); rolled back to revision 1" in service["reason"]
    assert mono.all_ready_on(old_image, 4) and annotation(mono) is None
    result = mono("abort", "--service", LOG)
    assert result.returncode == 1 and "has no paused canary to abort" in result.stderr


def test_sigterm_during_a_canary_leaves_it_paused_and_recorded_never_half_promoted(mono):
    import signal
    import subprocess
    import sys
    import time

    declare(mono, "canary:\n  steps: [25, 50, 100]\n  pause: 60s\n")
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "release", "--json", "--service", LOG], cwd=mono.root,
                            env=mono.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    mono.cluster.wait_for(lambda: revisions(mono) == [1, 3] and "pausing" in mono.log(LOG) if (
        mono.root / "dist" / "logs" / f"{LOG}.deploy.log").exists() else False, timeout=120)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert {s["id"]: s for s in json.loads(out)["services"]}[LOG]["status"] == "interrupted"
    assert annotation(mono)["step"] == 1
    time.sleep(1)
    assert revisions(mono) == [1, 3]  # the cluster stays at the step: never half-promoted
    assert json.loads(mono("status", "--json", "--service", LOG).stdout)["services"][0]["verdict"] == "canary"


def test_a_change_that_keeps_the_pod_template_does_not_canary(mono):
    values = mono.root / "services" / "Base" / "LogServer" / "values.yaml"
    values.write_text(values.read_text() + "canary:\n  steps: [25, 50, 100]\n  pause: 30s\n")  # the image is the same
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    canary = services[LOG]["rollout"]["canary"]
    assert canary["note"] == "no new pod revision: no canary (straight to 100%)"
    assert [s["step"] for s in canary["steps"]] == [1, 3] and "pausing" not in mono.log(LOG)
