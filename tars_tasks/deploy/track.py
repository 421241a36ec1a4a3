"""Rollout tracking: is a TARS server serving the release just deployed?

Helm cannot tell: a TServer has no status conditions (helm 4's --wait counts it ready at once) and its
status still describes the old pods right after an upgrade. The platform's own signals are used instead:

1. the operator has acted on the TServer's new spec: the workload (StatefulSet NAME, or DaemonSet NAME with
   `daemonSet: true`) equals its image, env, resources, command, release id and replicas (a change that
   keeps the image still makes a new revision; a removed env var or a cleared field is a change too);
2. the workload controller has observed it (observedGeneration);
3. every pod of the update revision (`controller-revision-hash` = updateRevision; DaemonSet:
   `pod-template-generation`) is Ready, with the readiness gate `tars.io/active` true (the TARS node reports
   the server active), as many as the TServer asks for, and no pod of an older revision is left.

Only the update revision's pods are judged: old pods that crash are being replaced. Zero replicas is done once
the workload reflects it. A state that cannot heal fails at once instead of waiting out the timeout:
ImagePullBackOff (the kubelet has retried the pull), InvalidImageName, CrashLoopBackOff after two restarts.
Unschedulable pods and servers not active in the TARS registry may still heal (autoscaling, a slow start):
they fail only at the deadline, with their reason.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tars_tasks.deploy.kube import KubeError

ACTIVE_GATE = "tars.io/active"
RELEASE_ID_LABEL = "tars.io/ReleaseID"
PULL_TERMINAL = ("ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
PULL_RETRYING = ("ErrImagePull",)
CRASH_RESTARTS_TERMINAL = 2
READY, WAITING, FAILED = "ready", "waiting", "failed"
# polling (benchmarks/bench_tracking.py): a 0.5 s cap cost 13-19% over the fake's own time to Ready for 1-2 s
# rollouts, a 0.2 s cap 7-8.5% for about 30% more requests; long rollouts go back to 0.5 s
FAST_INTERVAL, SLOW_INTERVAL, FAST_PHASE = 0.2, 0.5, 10.0
RETRY_FIRST, RETRY_MAX = 0.2, 3.0  # backoff after a transient API error while tracking


@dataclass(frozen=True)
class Target:
    """What should be running: the server's TServer/workload name, its labels, the release's image; and the
    TServer generation the apply wrote (0: not known), so that a watch cache older than it is not judged."""

    namespace: str
    name: str
    app: str
    server: str
    image: str
    generation: int = 0


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


def generation_of(obj: dict[str, Any] | None) -> int:
    """metadata.generation (0 for no object): bumped by the API server on every spec change."""
    return int(((obj or {}).get("metadata") or {}).get("generation") or 0)


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


REVISION_LABEL = "controller-revision-hash"  # on a StatefulSet's pods: the revision they were made from
DS_GENERATION_LABEL = "pod-template-generation"  # on a DaemonSet's pods: the template generation they run


def _operator_env(entry: dict[str, Any], declared: set[str]) -> bool:
    """An env entry the operator injects itself: pod identity from the downward API (Namespace, PodName, PodIP,
    ServerApp as valueFrom.fieldRef) under a name the TServer does not declare."""
    return entry.get("name") not in declared and bool((entry.get("valueFrom") or {}).get("fieldRef"))


def _env_equal(wanted: Any, running: Any) -> bool:
    """The container's env is exactly what the TServer declares, besides what the operator injects: a removed or
    changed variable still in the container means the operator has not acted yet (a subset check would judge
    the old pods as the new revision when a variable is removed)."""
    want = [e for e in wanted or [] if isinstance(e, dict)]
    declared = {str(e.get("name")) for e in want}
    have = [e for e in running or [] if isinstance(e, dict) and not _operator_env(e, declared)]
    return have == want


def behind(tserver: dict[str, Any], workload: dict[str, Any], name: str) -> str:
    """What of the TServer's spec the workload does not reflect yet ("" when the operator has acted on it):
    image, env, envFrom, resources, command/args, replicas, release id. Any of them makes a new revision (or a
    scale). Each copied field must EQUAL what the TServer declares (a removed env var or a cleared field is a
    change too), not merely contain it."""
    spec = tserver.get("spec") or {}
    k8s, release = spec.get("k8s") or {}, spec.get("release") or {}
    wspec = workload.get("spec") or {}
    template = wspec.get("template") or {}
    container = _container(template.get("spec") or {}, name)
    missing = []
    if release.get("image") and container.get("image") != release.get("image"):
        missing.append(f"image {release.get('image')} (it runs {container.get('image')})")
    if not _env_equal(k8s.get("env"), container.get("env")):
        missing.append("env")
    for field_name in ("envFrom", "resources", "command", "args"):  # copied as declared; unset means absent
        if (k8s.get(field_name) or None) != (container.get(field_name) or None):
            missing.append(field_name if k8s.get(field_name) else f"{field_name} cleared")
    labels = (template.get("metadata") or {}).get("labels") or {}
    if release.get("id") and RELEASE_ID_LABEL in labels and labels[RELEASE_ID_LABEL] != str(release["id"]):
        missing.append(f"release id {release['id']}")
    if not k8s.get("daemonSet") and _replicas(k8s) != _replicas(wspec):
        missing.append(f"replicas {k8s.get('replicas')}")
    if not k8s.get("daemonSet") and _strategy(k8s) != _strategy(wspec):  # a canary step moves only the partition
        kind, partition = _strategy(k8s)
        missing.append(f"updateStrategy {kind}" + (f" partition {partition}" if kind != "OnDelete" else ""))
    return ", ".join(missing)


def _strategy(spec: dict[str, Any]) -> tuple[str, int]:
    """(updateStrategy.type, rollingUpdate.partition) with the API's defaults (RollingUpdate, 0)."""
    strategy = spec.get("updateStrategy") or {}
    return (str(strategy.get("type") or "RollingUpdate"),
            int((strategy.get("rollingUpdate") or {}).get("partition") or 0))


def _replicas(spec: dict[str, Any]) -> int:
    """spec.replicas, 1 when unset (the API's default)."""
    value = spec.get("replicas")
    return 1 if value is None else int(value)


def _ordinal(pod: dict[str, Any]) -> int:
    tail = str((pod.get("metadata") or {}).get("name", "")).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _labels(pod: dict[str, Any]) -> dict[str, str]:
    return (pod.get("metadata") or {}).get("labels") or {}


def update_pods(workload: dict[str, Any], pods: list[dict[str, Any]], daemon: bool
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(pods of the update revision, pods still to be replaced, how many update-revision pods are wanted).

    StatefulSet: a pod is new when its controller-revision-hash is the workload's updateRevision; with
    updateStrategy.rollingUpdate.partition P only ordinals >= P are replaced (a canary); a pod at an ordinal >= the
    replicas is being removed (a scale-down) and only waited for, even of the update revision. DaemonSet: a pod is
    new when its pod-template-generation is the workload's generation."""
    meta, spec, status = workload.get("metadata") or {}, workload.get("spec") or {}, workload.get("status") or {}
    if daemon:
        generation = str(meta.get("generation") or "")
        new = [p for p in pods if _labels(p).get(DS_GENERATION_LABEL) == generation]
        return new, [p for p in pods if p not in new], int(status.get("desiredNumberScheduled") or 0)
    revision = status.get("updateRevision") or ""
    replicas = 1 if spec.get("replicas") is None else int(spec["replicas"])
    strategy = spec.get("updateStrategy") or {}
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if strategy.get("type") == "OnDelete":
        partition = replicas  # nothing is replaced by the controller: the pods there are what runs
    # a pod above the replicas (a scale-down, a rollback of a scale-up) is being removed: waited for, not judged
    new = [p for p in pods if _labels(p).get(REVISION_LABEL) == revision and _ordinal(p) < replicas]
    old = [p for p in pods if p not in new and (_ordinal(p) >= partition or _ordinal(p) >= replicas)]
    wanted = max(0, replicas - partition) + sum(1 for p in new if 0 <= _ordinal(p) < partition)
    return new, old, wanted


def judge(target: Target, tserver: dict[str, Any] | None, workload: dict[str, Any] | None,
          pods: list[dict[str, Any]]) -> Verdict:
    """One look at the cluster: ready, still waiting (for what), or failed for good.

    Judged by revision, not image: first the operator must have acted on the TServer (its workload reflects
    the spec), then the workload controller on the workload (observedGeneration); then every pod of the update
    revision must be Ready with tars.io/active, as many as the TServer asks for, and no pod of an older revision
    may be left to replace. Only the update revision's pods can fail the rollout: old pods that crash are being
    replaced, not judged."""
    if tserver is None:
        return Verdict(WAITING, waiting_for=f"TServer {target.name} to exist")
    k8s = (tserver.get("spec") or {}).get("k8s") or {}
    daemon = bool(k8s.get("daemonSet"))
    kind = "DaemonSet" if daemon else "StatefulSet"
    declared = 0 if daemon else _replicas(k8s)
    if workload is None:
        if not daemon and declared == 0:
            return Verdict(READY)
        return Verdict(WAITING, 0, declared, f"the operator to create {kind} {target.name}")
    missing = behind(tserver, workload, target.name)
    if missing:
        return Verdict(WAITING, 0, declared, f"the operator to reconcile {kind} {target.name} with TServer "
                                             f"{target.name} ({missing})")
    meta, status = workload.get("metadata") or {}, workload.get("status") or {}
    if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return Verdict(WAITING, 0, declared, f"the {kind} controller to observe generation {meta.get('generation')}")
    new, old, desired = update_pods(workload, pods, daemon)
    ready = sum(1 for p in new if pod_ready(p))
    issues = [pod_issue(p, target.name) for p in new if not pod_ready(p)]
    if any(i.terminal for i in issues):
        return Verdict(FAILED, ready, desired, issues=issues)
    if ready >= desired and len(new) == desired and not old:
        return Verdict(READY, ready, desired)
    if old:
        waiting = f"{len(old)} pod(s) of the previous revision to be replaced"
    elif len(new) < desired:
        waiting = f"{desired - len(new)} pod(s) of the new revision to be created"
    else:
        waiting = "pods to become ready"
    return Verdict(WAITING, ready, desired, waiting, issues)


Look = Callable[[Target], Verdict]


def track(target: Target, look: Look, deadline: float, progress: Callable[[str], None] = lambda msg: None,
          sleep: Callable[[float], None] = time.sleep) -> Verdict:
    """Look until ready, failed, or the deadline (monotonic).

    Polls at 0.05 s, growing 1.5x to at most 0.2 s for the first FAST_PHASE seconds (most rollouts: a poll
    lands within 0.1 s of Ready on average), then every 0.5 s (long rollouts: fewer requests). A transient API
    error (5xx, 429, a reset connection) is asked again with backoff until the deadline; only then, or on an
    error that is not transient, the KubeError propagates (the revision stays unverified)."""
    interval, shown, started, retry = 0.05, "", time.monotonic(), RETRY_FIRST
    while True:
        try:
            verdict = look(target)
        except KubeError as exc:
            left = deadline - time.monotonic()
            if not exc.transient or left <= 0:
                raise
            progress(f"API error, asking again in {min(retry, left):.1f}s: {exc}")
            sleep(min(retry, left))
            retry = min(retry * 2, RETRY_MAX)
            continue
        retry = RETRY_FIRST
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
