"""Rollout tracking: is a TARS server serving the release just deployed?

Helm cannot tell: a TServer has no status conditions (helm 4's --wait counts it ready at once) and its
status still describes the old pods right after an upgrade. The platform's own signals are used instead:

1. the operator has reconciled: the workload (StatefulSet NAME, or DaemonSet NAME with `daemonSet: true`)
   runs the new image in its container NAME;
2. the workload has rolled out: observedGeneration is current; updated = ready = desired replicas and
   currentRevision = updateRevision (DaemonSet: updated = ready = desired scheduled);
3. every pod of the server is Ready, with the readiness gate `tars.io/active` true (the TARS node reports
   the server active).

Zero replicas is done at once. A state that cannot heal fails at once instead of waiting out the timeout:
ImagePullBackOff (the kubelet has retried the pull), InvalidImageName, CrashLoopBackOff after two restarts.
Unschedulable pods and servers not active in the TARS registry may still heal (autoscaling, a slow start):
they fail only at the deadline, with their reason.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ACTIVE_GATE = "tars.io/active"
PULL_TERMINAL = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
PULL_RETRYING = ("ErrImagePull",)
CRASH_RESTARTS_TERMINAL = 2
READY, WAITING, FAILED = "ready", "waiting", "failed"
# polling (benchmarks/bench_tracking.py): a 0.5 s cap cost 13-19% over the fake's own time to Ready for 1-2 s
# rollouts, a 0.2 s cap 7-8.5% for about 30% more requests; long rollouts go back to 0.5 s
FAST_INTERVAL, SLOW_INTERVAL, FAST_PHASE = 0.2, 0.5, 10.0


@dataclass(frozen=True)
class Target:
    """What should be running: the server's TServer/workload name, its labels, the release's image."""

    namespace: str
    name: str
    app: str
    server: str
    image: str


@dataclass
class PodIssue:
    pod: str
    reason: str  # CrashLoopBackOff | ImagePullBackOff | ErrImagePull | Unschedulable | NotActive | ...
    message: str
    container: str = ""
    exit_code: int | None = None
    restarts: int = 0
    terminal: bool = False

    def summary(self) -> str:
        if self.reason == "CrashLoopBackOff":
            code = f"exit code {self.exit_code}, " if self.exit_code is not None else ""
            return f"{self.pod}: CrashLoopBackOff ({code}{self.restarts} restarts)"
        if self.reason == "NotActive":
            return f"{self.pod}: not active in the TARS registry (readiness gate {ACTIVE_GATE} is not true)"
        return f"{self.pod}: {self.reason}" + (f": {self.message}" if self.message else "")


@dataclass
class Verdict:
    state: str  # ready | waiting | failed
    ready: int = 0
    desired: int = 0
    waiting_for: str = ""
    issues: list[PodIssue] = field(default_factory=list)
    timed_out: bool = False

    @property
    def progress(self) -> str:
        if self.desired or not self.waiting_for:
            return f"ready {self.ready}/{self.desired}"
        return f"waiting for {self.waiting_for}"

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "ready": self.ready, "desired": self.desired, "waitingFor": self.waiting_for,
                "timedOut": self.timed_out, "pods": [asdict(i) for i in self.issues]}


def _container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    containers = spec.get("containers") or []
    return next((c for c in containers if c.get("name") == name), containers[0] if containers else {})


def _condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def pod_ready(pod: dict[str, Any]) -> bool:
    return _condition(pod, "Ready").get("status") == "True" and _condition(pod, ACTIVE_GATE).get("status") == "True"


def pod_issue(pod: dict[str, Any], container: str) -> PodIssue:
    """Why a pod is not Ready, as a person would read it off `kubectl describe pod`."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    scheduled = _condition(pod, "PodScheduled")
    if scheduled.get("status") == "False":
        return PodIssue(name, scheduled.get("reason") or "Pending", scheduled.get("message") or "")
    statuses = status.get("containerStatuses") or []
    cs = next((c for c in statuses if c.get("name") == container), statuses[0] if statuses else {})
    state = cs.get("state") or {}
    restarts = int(cs.get("restartCount") or 0)
    last = (cs.get("lastState") or {}).get("terminated") or {}
    if "waiting" in state:
        reason = state["waiting"].get("reason") or "Waiting"
        message = state["waiting"].get("message") or ""
        exit_code = last.get("exitCode")
        terminal = reason in PULL_TERMINAL or (reason == "CrashLoopBackOff" and restarts >= CRASH_RESTARTS_TERMINAL)
        return PodIssue(name, reason, message, container, exit_code, restarts, terminal)
    if "terminated" in state:
        term = state["terminated"]
        return PodIssue(name, term.get("reason") or "Terminated", term.get("message") or "", container,
                        term.get("exitCode"), restarts, False)
    if cs.get("ready") and _condition(pod, ACTIVE_GATE).get("status") != "True":
        return PodIssue(name, "NotActive", _condition(pod, ACTIVE_GATE).get("message") or "", container)
    return PodIssue(name, status.get("phase") or "Pending", "", container)


def _rollout(workload: dict[str, Any], daemon: bool) -> tuple[int, int, int, str]:
    """(desired, updated, ready, what is still missing or "") of a workload."""
    meta, spec, status = workload.get("metadata") or {}, workload.get("spec") or {}, workload.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return 0, 0, 0, "the workload controller to observe the new generation"
    if daemon:
        desired = int(status.get("desiredNumberScheduled") or 0)
        updated, ready = int(status.get("updatedNumberScheduled") or 0), int(status.get("numberReady") or 0)
        return desired, updated, ready, "" if updated == ready == desired else "updated pods to become ready"
    replicas = spec.get("replicas")
    desired = 1 if replicas is None else int(replicas)
    updated, ready = int(status.get("updatedReplicas") or 0), int(status.get("readyReplicas") or 0)
    if status.get("currentRevision") != status.get("updateRevision") and desired:
        return desired, updated, ready, "the rollout to reach every pod"
    return desired, updated, ready, "" if updated == ready == desired else "updated pods to become ready"


def judge(target: Target, tserver: dict[str, Any] | None, workload: dict[str, Any] | None,
          pods: list[dict[str, Any]]) -> Verdict:
    """One look at the cluster: ready, still waiting (for what), or failed for good."""
    if tserver is None:
        return Verdict(WAITING, waiting_for=f"TServer {target.name} to exist")
    k8s = (tserver.get("spec") or {}).get("k8s") or {}
    daemon = bool(k8s.get("daemonSet"))
    if not daemon and int(k8s.get("replicas") or 0) == 0:
        return Verdict(READY)
    kind = "DaemonSet" if daemon else "StatefulSet"
    declared = 0 if daemon else int(k8s.get("replicas") or 0)
    if workload is None:
        return Verdict(WAITING, 0, declared, f"the operator to create {kind} {target.name}")
    template = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    running = _container(template, target.name).get("image")
    if running != target.image:
        return Verdict(WAITING, 0, declared, f"the operator to reconcile {kind} {target.name} to {target.image} "
                                             f"(it runs {running})")
    desired, _, _, missing = _rollout(workload, daemon)
    desired = desired or declared
    mine = [p for p in pods if _container((p.get("spec") or {}), target.name).get("image") == target.image]
    ready = sum(1 for p in mine if pod_ready(p))
    issues = [pod_issue(p, target.name) for p in mine if not pod_ready(p)]
    if any(i.terminal for i in issues):
        return Verdict(FAILED, ready, desired, issues=issues)
    old = len(pods) - len(mine)
    if not missing and ready == desired and not old:
        return Verdict(READY, ready, desired)
    waiting = missing or (f"{old} pod(s) of the previous release to go" if old else "pods to become ready")
    return Verdict(WAITING, ready, desired, waiting, issues)


Look = Callable[[Target], Verdict]


def track(target: Target, look: Look, deadline: float, progress: Callable[[str], None] = lambda msg: None,
          sleep: Callable[[float], None] = time.sleep) -> Verdict:
    """Look until ready, failed, or the deadline (monotonic).

    Polls at 0.05 s, growing 1.5x to at most 0.2 s for the first FAST_PHASE seconds (most rollouts: a poll
    lands within 0.1 s of Ready on average), then every 0.5 s (long rollouts: fewer requests)."""
    interval, shown, started = 0.05, "", time.monotonic()
    while True:
        verdict = look(target)
        if verdict.state != WAITING:
            return verdict
        if verdict.progress != shown:
            shown = verdict.progress
            progress(shown)
        left = deadline - time.monotonic()
        if left <= 0:
            verdict.state, verdict.timed_out = FAILED, True
            return verdict
        sleep(min(interval, left))
        cap = FAST_INTERVAL if time.monotonic() - started < FAST_PHASE else SLOW_INTERVAL
        interval = min(interval * 1.5, cap)


def failure_summary(verdict: Verdict, seconds: float) -> str:
    """One line for the final table."""
    if verdict.issues:
        first = verdict.issues[0]
        more = f" (+{len(verdict.issues) - 1} more pod(s))" if len(verdict.issues) > 1 else ""
        head = first.summary() + more
    else:
        head = f"waiting for {verdict.waiting_for}" if verdict.waiting_for else "not ready"
    if verdict.timed_out:
        return f"not ready after {seconds:.0f}s ({verdict.progress}): {head}"
    return f"cannot become ready ({verdict.progress}): {head}"
