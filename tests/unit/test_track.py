"""Rollouts judged by revision (deploy/track.py judge): what one look at the cluster concludes."""
from __future__ import annotations

from typing import Any

from tars_tasks.deploy.track import FAILED, READY, WAITING, Target, judge

NAME = "base-authserver"
TARGET = Target("tars", NAME, "Base", "AuthServer", "reg/auth:v1")
ENV_OK = [{"name": "TOKEN_TTL", "value": "3600"}]
ENV_NEW = [{"name": "TOKEN_TTL", "value": "60"}]


def tserver(replicas: int = 2, env: list[dict[str, Any]] = ENV_NEW, image: str = "reg/auth:v1",
            partition: int | None = None) -> dict[str, Any]:
    k8s: dict[str, Any] = {"replicas": replicas, "env": env}
    if partition is not None:
        k8s["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
    return {"metadata": {"name": NAME, "generation": 2},
            "spec": {"k8s": k8s, "release": {"id": "v1", "image": image}}}


def workload(replicas: int = 2, env: list[dict[str, Any]] = ENV_NEW, update: str = "r2", current: str = "r1",
             generation: int = 3, observed: int = 3, partition: int = 0) -> dict[str, Any]:
    return {"kind": "StatefulSet", "metadata": {"name": NAME, "generation": generation},
            "spec": {"replicas": replicas, "updateStrategy": {"type": "RollingUpdate",
                                                              "rollingUpdate": {"partition": partition}},
                     "template": {"metadata": {"labels": {"tars.io/ReleaseID": "v1"}},
                                  "spec": {"containers": [{"name": NAME, "image": "reg/auth:v1", "env": env}]}}},
            "status": {"observedGeneration": observed, "updateRevision": update, "currentRevision": current,
                       "replicas": replicas}}


def pod(ordinal: int, revision: str, ready: bool = True, crash_restarts: int = 0) -> dict[str, Any]:
    state: dict[str, Any] = {"running": {}}
    if crash_restarts:
        state = {"waiting": {"reason": "CrashLoopBackOff"}}
    conditions = [{"type": "Ready", "status": str(ready)}, {"type": "tars.io/active", "status": str(ready)}]
    return {"metadata": {"name": f"{NAME}-{ordinal}", "uid": f"uid-{ordinal}-{revision}",
                         "labels": {"controller-revision-hash": revision}},
            "spec": {"containers": [{"name": NAME, "image": "reg/auth:v1"}]},
            "status": {"phase": "Running", "conditions": conditions,
                       "containerStatuses": [{"name": NAME, "state": state, "restartCount": crash_restarts,
                                              "ready": ready, "lastState": {"terminated": {"exitCode": 1}}}]}}


def test_an_env_change_waits_for_the_operator_even_though_the_image_is_the_same():
    old = workload(env=ENV_OK, update="r1")
    verdict = judge(TARGET, tserver(), old, [pod(0, "r1"), pod(1, "r1")])
    assert verdict.state == WAITING and "env" in verdict.waiting_for


def test_the_new_revision_that_crashes_fails_while_the_old_pods_are_still_ready():
    verdict = judge(TARGET, tserver(), workload(), [pod(0, "r1"), pod(1, "r2", ready=False, crash_restarts=2)])
    assert verdict.state == FAILED and [i.pod for i in verdict.issues] == [f"{NAME}-1"]


def test_a_fix_over_crashing_pods_is_judged_on_its_own_new_pods():
    crashing_old = pod(0, "r1", ready=False, crash_restarts=5)
    verdict = judge(TARGET, tserver(), workload(), [crashing_old, pod(1, "r2")])
    assert verdict.state == WAITING and "previous revision" in verdict.waiting_for and not verdict.issues
    assert judge(TARGET, tserver(), workload(current="r2"), [pod(0, "r2"), pod(1, "r2")]).state == READY


def test_a_scale_up_waits_for_the_replicas_the_tserver_asks_for():
    verdict = judge(TARGET, tserver(replicas=3), workload(replicas=2, update="r2", current="r2"),
                    [pod(0, "r2"), pod(1, "r2")])
    assert verdict.state == WAITING and "replicas 3" in verdict.waiting_for
    verdict = judge(TARGET, tserver(replicas=3), workload(replicas=3, update="r2", current="r2"),
                    [pod(0, "r2"), pod(1, "r2"), pod(2, "r2", ready=False, crash_restarts=3)])
    assert verdict.state == FAILED and verdict.desired == 3 and verdict.ready == 2


def test_the_controller_must_observe_the_generation():
    verdict = judge(TARGET, tserver(), workload(observed=2), [pod(0, "r1"), pod(1, "r1")])
    assert verdict.state == WAITING and "observe generation 3" in verdict.waiting_for


def test_a_partition_rolls_only_the_ordinals_above_it():
    verdict = judge(TARGET, tserver(replicas=3, partition=2), workload(replicas=3, partition=2),
                    [pod(0, "r1"), pod(1, "r1"), pod(2, "r2")])
    assert verdict.state == READY and verdict.desired == 1


def test_a_canary_step_that_only_lowers_the_partition_waits_for_the_operator_to_copy_it():
    pods = [pod(0, "r1"), pod(1, "r1"), pod(2, "r2")]
    verdict = judge(TARGET, tserver(replicas=3, partition=1), workload(replicas=3, partition=2), pods)
    assert verdict.state == WAITING and "updateStrategy RollingUpdate partition 1" in verdict.waiting_for
    verdict = judge(TARGET, tserver(replicas=3), workload(replicas=3, partition=2), pods)  # the last step: none
    assert verdict.state == WAITING and "partition 0" in verdict.waiting_for


def test_zero_replicas_is_ready_once_the_pods_are_gone():
    assert judge(TARGET, tserver(replicas=0), workload(replicas=0, update="r2", current="r2"),
                 [pod(0, "r2")]).state == WAITING
    assert judge(TARGET, tserver(replicas=0), workload(replicas=0, update="r2", current="r2"), []).state == READY


def test_tracking_asks_again_after_a_transient_api_error_and_gives_up_on_any_other():
    import pytest

    from tars_tasks.deploy.kube import KubeError
    from tars_tasks.deploy.track import track

    answers: list[Any] = [KubeError("get StatefulSet: 503 unavailable", transient=True),
                          KubeError("cluster not reachable: reset", transient=True)]
    ready = judge(TARGET, tserver(), workload(current="r2"), [pod(0, "r2"), pod(1, "r2")])
    slept: list[float] = []

    def look(_target: Target) -> Any:
        if answers:
            raise answers.pop(0)
        return ready

    assert track(TARGET, look, deadline=1e12, sleep=slept.append).state == READY
    assert slept == [0.2, 0.4]  # backoff
    answers[:] = [KubeError("get StatefulSet: 403 forbidden")]
    with pytest.raises(KubeError, match="403"):
        track(TARGET, look, deadline=1e12, sleep=slept.append)


def test_removing_an_env_var_waits_for_the_operator_instead_of_judging_the_old_pods():
    bad = [{"name": "MODE", "value": "bad"}]
    old = workload(env=ENV_NEW + bad, update="r1")
    crashing = [pod(0, "r1", ready=False, crash_restarts=5), pod(1, "r1", ready=False, crash_restarts=5)]
    verdict = judge(TARGET, tserver(env=ENV_NEW), old, crashing)
    assert verdict.state == WAITING and "env" in verdict.waiting_for and not verdict.issues


def test_clearing_command_or_resources_waits_for_the_operator():
    old = workload()
    old["spec"]["template"]["spec"]["containers"][0].update(command=["/bin/false"], resources={"limits": {"cpu": 1}})
    verdict = judge(TARGET, tserver(), old, [pod(0, "r2"), pod(1, "r2")])
    assert verdict.state == WAITING and "command cleared" in verdict.waiting_for
    assert "resources cleared" in verdict.waiting_for


def test_env_the_operator_injects_from_the_downward_api_is_not_a_difference():
    injected = {"name": "PodName", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    ready = workload(env=[injected, *ENV_NEW], current="r2")
    assert judge(TARGET, tserver(), ready, [pod(0, "r2"), pod(1, "r2")]).state == READY


def test_a_watch_cache_older_than_the_applied_generation_is_not_judged():
    from tars_tasks.deploy.watch import KINDS, NamespaceWatch

    watch = NamespaceWatch(kube=None, namespace="tars")  # type: ignore[arg-type] # never started: the cache only
    before_apply = tserver()  # generation 2: the spec the ready pods run
    watch.cache = {"TServer": {NAME: before_apply}, "StatefulSet": {NAME: workload(current="r2")},
                   "DaemonSet": {}, "Pod": {}}
    watch.synced = set(KINDS)
    assert watch.look(TARGET)[0] is not None  # no generation known: the cache is judged
    lagging, _ = watch.look(Target("tars", NAME, "Base", "AuthServer", "reg/auth:v1", generation=3))
    assert lagging is None  # the apply wrote generation 3: the tracker asks the API instead of judging the cache


def test_a_crashing_pod_above_the_replicas_is_waited_out_not_judged_on_a_scale_down():
    scaled_down = workload(current="r2")  # 2 replicas: base-authserver-2 (a scale-up rolled back) is being removed
    pods = [pod(0, "r2"), pod(1, "r2"), pod(2, "r2", ready=False, crash_restarts=4)]
    verdict = judge(TARGET, tserver(), scaled_down, pods)
    assert verdict.state == WAITING and not verdict.issues
    assert judge(TARGET, tserver(), scaled_down, pods[:2]).state == READY
