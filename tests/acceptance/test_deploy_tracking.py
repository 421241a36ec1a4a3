"""Deploys that mean running: the real helm against the fake cluster (tests/fakes/cluster), whose simulated
operator turns each TServer into a StatefulSet/DaemonSet and pods with the outcome a test chooses."""
from __future__ import annotations

import json
import subprocess

import pytest

from clustermono import ClusterMono, helm_binary, name_of, sample_in_cluster
from fakes.cluster import FakeCluster, Outcome

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

SAMPLE_DEPS = {"Base.HelloServer": ["Base.LogServer"], "Shop.CartServer": ["Base.AuthServer", "Base.HelloServer"],
               "Shop.PayServer": ["Base.AuthServer"], "Shop.OrderServer": ["Shop.CartServer", "Shop.PayServer"],
               "Shop.WebGateway": ["Shop.OrderServer", "Base.AuthServer"]}


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.3) as m:
        yield m


def first_ready(cluster: FakeCluster, server: str) -> float:
    return next(t.time for t in cluster.server_transitions if t.server == server and t.ready)


def test_every_server_ends_ready_and_dependents_wait_for_ready_pods(mono):
    result, services = mono.release()
    assert result.returncode == 0, result.stderr
    assert {sid: s["status"] for sid, s in services.items()} == dict.fromkeys(services, "deployed")
    assert len(services) == 7
    for sid, s in services.items():
        assert s["rollout"]["tracked"] is True and s["rollout"]["state"] == "ready"
        workload = mono.cluster.get("StatefulSet", "tars", name_of(sid))
        assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == s["image"]
        pods = [p for p in mono.cluster.objects("Pod", "tars") if p["metadata"]["name"].startswith(name_of(sid) + "-")]
        assert len(pods) == s["rollout"]["desired"] == s["rollout"]["ready"] > 0
    for dependent, deps in SAMPLE_DEPS.items():
        created = mono.cluster.first_created("TServer", name_of(dependent), "tars")
        for dep in deps:
            assert first_ready(mono.cluster, name_of(dep)) < created, f"{dependent} created before {dep} was ready"
    assert "ready 0/3" in result.stderr or "ready 1/3" in result.stderr or "ready 2/3" in result.stderr


FAILURES = [
    ("crashloop", Outcome.crashloop(error_line="[error] cannot bind 0.0.0.0:10010", delay=0.2, restart_period=0.2),
     "CrashLoopBackOff (exit code 1,", "[error] cannot bind 0.0.0.0:10010", "BackOff"),
    ("imagepull", Outcome.imagepull(delay=0.4), "ImagePullBackOff", None, "Failed"),
    ("unschedulable", Outcome.unschedulable(message="0/2 nodes are available: 2 Insufficient cpu."),
     "Unschedulable: 0/2 nodes are available: 2 Insufficient cpu.", None, "FailedScheduling"),
    ("inactive", Outcome.inactive(delay=0.2), "not active in the TARS registry", "[info] server started", None),
]


@pytest.mark.parametrize("kind,outcome,reason,log_line,event", FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failed_rollout_is_explained_skips_dependents_and_rolls_back(mono, kind, outcome, reason, log_line, event):
    first, _ = mono.release()
    assert first.returncode == 0, first.stderr
    mono.change("Shop.CartServer")
    new_image = mono.image_of("Shop.CartServer")
    mono.cluster.set_outcome(new_image, outcome)
    timeout = "4s" if kind in ("unschedulable", "inactive") else "20s"  # these may heal: waited out
    result, services = mono.release("--with-dependents", INVOKE_TARS_HELM_TIMEOUT=timeout)
    assert result.returncode == 1
    cart = services["Shop.CartServer"]
    assert cart["status"] == "rolled-back"
    assert cart["reason"].startswith("deploy: failed, rolled back to revision 1: ")
    assert reason in cart["reason"]
    failure = cart["rollout"]["failure"]
    assert reason in failure["summary"] and cart["rollout"]["rolledBackTo"] == 1
    assert cart["rollout"]["rollback"]["state"] == "ready"
    if log_line:
        assert log_line in failure["log"]["lines"]
        assert log_line in mono.log("Shop.CartServer")
    if event:
        assert event in {e["reason"] for e in failure["events"]}
    assert (kind in ("unschedulable", "inactive")) == cart["rollout"]["timedOut"]
    assert "rolled back to revision 1" in mono.log("Shop.CartServer")
    # dependents never started; the table says why
    for sid in ("Shop.OrderServer", "Shop.WebGateway"):
        assert services[sid]["status"] == "skipped"
    table = result.stderr
    assert "Shop.CartServer   rolled-back" in table and reason in table
    # the cluster runs the previous release again, ready
    workload = mono.cluster.get("StatefulSet", "tars", "shop-cartserver")
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"] != new_image
    assert mono.cluster.ready_since("shop-cartserver") is not None
    history = json.loads(subprocess.run([helm_binary(), "history", "shop-cartserver", "-n", "tars", "-o", "json"],
                                        capture_output=True, text=True, env=mono.env, check=True).stdout)
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert history[-1]["description"] == "Rollback to 1"


def test_a_failed_first_install_is_left_for_debugging_or_cleaned_up(mono):
    image = mono.image_of("Base.LogServer")
    mono.cluster.set_outcome(image, Outcome.crashloop(delay=0.2, restart_period=0.2))
    result, services = mono.release("--service", "Base.LogServer")
    assert result.returncode == 1
    assert services["Base.LogServer"]["status"] == "failed"
    assert "CrashLoopBackOff" in services["Base.LogServer"]["reason"]
    assert mono.cluster.get("TServer", "tars", "base-logserver") is not None  # left in place
    assert "left in place for debugging" in mono.log("Base.LogServer")
    plan = json.loads(mono("plan", "--json", "--service", "Base.LogServer").stdout)
    assert plan["services"][0]["reasons"][0] == "last release is failed rollout (revision 1): redo it"
    result = mono("release", "--json", "--service", "Base.LogServer", "--cleanup-on-fail")
    services = {s["id"]: s for s in json.loads(result.stdout)["services"]}
    assert result.returncode == 1 and services["Base.LogServer"]["rollout"]["cleanedUp"] is True
    assert mono.cluster.get("TServer", "tars", "base-logserver") is None


def test_no_rollback_keeps_the_failed_upgrade(mono):
    assert mono.release("--service", "Base.LogServer")[0].returncode == 0
    mono.change("Base.LogServer")
    new_image = mono.image_of("Base.LogServer")
    mono.cluster.set_outcome(new_image, Outcome.imagepull(delay=0.2))
    result, services = mono.release("--service", "Base.LogServer", "--no-rollback")
    assert result.returncode == 1 and services["Base.LogServer"]["status"] == "failed"
    workload = mono.cluster.get("StatefulSet", "tars", "base-logserver")
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == new_image


def test_zero_replicas_and_daemonset(mono):
    values = mono.root / "services/Base/LogServer/values.yaml"
    values.write_text(values.read_text().replace("replicas: 2", "replicas: 0"))
    hello = mono.root / "services/Base/HelloServer/values.yaml"
    hello.write_text(hello.read_text() + "daemonSet: true\n")
    result, services = mono.release("--service", "Base.LogServer", "--service", "Base.HelloServer")
    assert result.returncode == 0, result.stderr
    assert services["Base.LogServer"]["rollout"]["state"] == "ready"
    assert services["Base.LogServer"]["rollout"]["desired"] == 0
    ds = mono.cluster.get("DaemonSet", "tars", "base-helloserver")
    assert ds is not None and mono.cluster.get("StatefulSet", "tars", "base-helloserver") is None
    assert services["Base.HelloServer"]["rollout"]["ready"] == services["Base.HelloServer"]["rollout"]["desired"] == 2


def test_no_wait_is_not_tracked(mono):
    mono.cluster.set_default_outcome(Outcome.crashloop(delay=0.2))
    result, services = mono.release("--service", "Base.LogServer", "--no-wait")
    assert result.returncode == 0, result.stderr
    log = services["Base.LogServer"]
    assert log["status"] == "deployed" and log["rollout"] == {"tracked": False}
    assert log["reason"].endswith("; not tracked (--no-wait)")


def test_a_server_that_never_becomes_ready_times_out(mono):
    mono.cluster.set_default_outcome(Outcome.ready(delay=30))
    result, services = mono.release("--service", "Base.LogServer", INVOKE_TARS_HELM_TIMEOUT="3s")
    assert result.returncode == 1
    log = services["Base.LogServer"]
    assert log["status"] == "failed" and log["rollout"]["timedOut"] is True
    assert log["reason"].startswith("deploy: not ready after 3s (ready 0/2): ")


def set_env(mono, sid: str, value: str) -> None:
    """Change only Base.AuthServer's TOKEN_TTL: the image (and release id) stay, the pod template changes."""
    values = mono.root / "services" / sid.replace(".", "/") / "values.yaml"
    text = values.read_text()
    start = text.index("value: ", text.index("TOKEN_TTL"))
    end = text.index("\n", start)
    values.write_text(text[:start] + f'value: "{value}"' + text[end:])


def template_env(mono, name: str) -> list[dict]:
    sts = mono.cluster.get("StatefulSet", "tars", name)
    return sts["spec"]["template"]["spec"]["containers"][0].get("env") or []


def test_a_values_only_change_is_judged_on_its_own_new_pods(mono):
    """The operator acts a second after the apply: the old pods are Ready meanwhile and must not count."""
    auth = "Base.AuthServer"
    assert mono.release("--service", auth)[0].returncode == 0
    slow_crash = Outcome.crashloop(delay=0.2, restart_period=0.2, reconcile_delay=1.0)
    mono.cluster.set_outcome("env:TOKEN_TTL=bad", slow_crash)
    mono.cluster.set_outcome("env:TOKEN_TTL=fixed", Outcome.ready(delay=0.3, reconcile_delay=1.0))
    set_env(mono, auth, "bad")
    result, services = mono.release("--service", auth, "--no-rollback")
    assert result.returncode == 1, result.stderr
    assert services[auth]["status"] == "failed" and "CrashLoopBackOff" in services[auth]["reason"]
    assert {"name": "TOKEN_TTL", "value": "bad"} in template_env(mono, "base-authserver")
    # the fix keeps the image too: judged on its own pods, not on the crashing ones it replaces
    set_env(mono, auth, "fixed")
    result, services = mono.release("--service", auth)
    assert result.returncode == 0, result.stderr
    assert services[auth]["status"] == "deployed" and services[auth]["rollout"]["ready"] == 2
    # and a bad one again is rolled back to the fix
    set_env(mono, auth, "bad")
    result, services = mono.release("--service", auth)
    assert result.returncode == 1 and services[auth]["status"] == "rolled-back"
    assert {"name": "TOKEN_TTL", "value": "fixed"} in template_env(mono, "base-authserver")


def test_a_scale_up_waits_for_the_new_replica(mono):
    auth = "Base.AuthServer"
    assert mono.release("--service", auth)[0].returncode == 0
    mono.cluster.set_outcome("pod:base-authserver-2", Outcome.crashloop(delay=0.2, restart_period=0.2,
                                                                         reconcile_delay=0.5))
    values = mono.root / "services/Base/AuthServer/values.yaml"
    values.write_text(values.read_text().replace("replicas: 2", "replicas: 3"))
    result, services = mono.release("--service", auth)
    assert result.returncode == 1, result.stderr
    assert services[auth]["status"] == "rolled-back"
    assert "base-authserver-2: CrashLoopBackOff" in services[auth]["reason"]
    assert services[auth]["rollout"]["desired"] == 3


def test_a_failure_is_explained_by_the_events_of_the_current_pods_only(mono):
    log = "Base.LogServer"
    assert mono.release("--service", log)[0].returncode == 0
    mono.change(log)
    mono.cluster.set_outcome(mono.image_of(log), Outcome.imagepull(delay=0.2))
    assert mono.release("--service", log)[1][log]["status"] == "rolled-back"  # pods named base-logserver-1 failed
    (mono.root / "services/Base/LogServer/changed.txt").write_text("another release\n")
    mono.cluster.set_outcome(mono.image_of(log), Outcome.crashloop(delay=0.2, restart_period=0.2))
    result, services = mono.release("--service", log)
    failure = services[log]["rollout"]["failure"]
    reasons = {e["reason"] for e in failure["events"]}
    assert "BackOff" in reasons and not reasons & {"Failed", "ErrImagePull"}, failure["events"]
