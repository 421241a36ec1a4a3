"""What the scheduler and kubelet would report for a pod, given the outcome a test chose for it.

A pod walks through stages by the time since its creation; each stage has a pod status and the Events a
real cluster emits on entering it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

READY, CRASHLOOP, IMAGEPULL, UNSCHEDULABLE, INACTIVE = "ready", "crashloop", "imagepull", "unschedulable", "inactive"
ACTIVE_GATE = "tars.io/active"


@dataclass(frozen=True)
class Outcome:
    """What becomes of the pods of one server, image or release id.

    kind: ready | crashloop | imagepull | unschedulable | inactive.
    delay: seconds from a pod's creation until it reaches its outcome (ready, crashing, inactive); an image
        pull fails with ErrImagePull at delay/2 and backs off (ImagePullBackOff) at delay.
    reconcile_delay: seconds from a TServer change until the operator rewrites its workload (until then the
        workload and the TServer's status still describe the previous pods).
    log: the pod's log lines; a crashing container's log ends with ``error_line``.
    exit_code: the crashing container's exit code; restart_period: seconds between its restarts.
    message: the scheduler's message (unschedulable) or the pull error (imagepull); a default if empty.
    """

    kind: str = READY
    delay: float = 0.2
    reconcile_delay: float = 0.05
    log: tuple[str, ...] = ("[info] loading configuration", "[info] server started")
    error_line: str = "[error] fatal: cannot start the server"
    exit_code: int = 1
    restart_period: float = 0.5
    message: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (READY, CRASHLOOP, IMAGEPULL, UNSCHEDULABLE, INACTIVE):
            raise ValueError(f"unknown outcome kind {self.kind!r}")

    @classmethod
    def ready(cls, delay: float = 0.2, **kw: Any) -> Outcome:
        return cls(READY, delay, **kw)

    @classmethod
    def crashloop(cls, error_line: str = "[error] fatal: cannot start the server", **kw: Any) -> Outcome:
        return cls(CRASHLOOP, error_line=error_line, **kw)

    @classmethod
    def imagepull(cls, **kw: Any) -> Outcome:
        return cls(IMAGEPULL, **kw)

    @classmethod
    def unschedulable(cls, message: str = "", **kw: Any) -> Outcome:
        return cls(UNSCHEDULABLE, message=message, **kw)

    @classmethod
    def inactive(cls, **kw: Any) -> Outcome:
        return cls(INACTIVE, **kw)


@dataclass
class PodSim:
    """The simulation state of one pod (by uid)."""

    namespace: str
    name: str
    owner: str  # the workload's name ("" for a pod nobody owns)
    container: str
    image: str
    node: str
    outcome: Outcome
    created: float
    stage: str = ""
    stage_since: str = ""
    ready: bool | None = None
    started: str = field(default_factory=lambda: rfc3339())


@dataclass(frozen=True)
class EventSpec:
    """An Event to emit about the pod."""

    type: str
    reason: str
    message: str
    component: str


def rfc3339(at: float | None = None) -> str:
    moment = datetime.now(timezone.utc) if at is None else datetime.fromtimestamp(at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stages(outcome: Outcome) -> list[tuple[float, str]]:
    """The stages a pod with this outcome goes through, each with the time (after creation) it starts."""
    if outcome.kind == UNSCHEDULABLE:
        return [(0.0, "unschedulable")]
    if outcome.kind == IMAGEPULL:
        return [(0.0, "creating"), (outcome.delay / 2, "errimagepull"), (outcome.delay, "imagepullbackoff")]
    return [(0.0, "creating"), (outcome.delay, {READY: "ready", CRASHLOOP: "crashloop", INACTIVE: "inactive"}[
        outcome.kind])]


def stage(sim: PodSim, now: float) -> str:
    """The stage the pod is in at ``now``."""
    return [name for start, name in stages(sim.outcome) if now - sim.created >= start][-1]


def entered(sim: PodSim, now: float) -> list[str]:
    """The stages entered since the pod was last seen (all of them, should a slow tick have skipped one)."""
    names = [name for start, name in stages(sim.outcome) if now - sim.created >= start]
    return names[names.index(sim.stage) + 1:] if sim.stage in names else names


def restarts(sim: PodSim, now: float) -> int:
    if sim.outcome.kind != CRASHLOOP or now - sim.created < sim.outcome.delay:
        return 0
    return 1 + int((now - sim.created - sim.outcome.delay) / max(sim.outcome.restart_period, 0.05))


def pull_error(sim: PodSim) -> str:
    return sim.outcome.message or (f'rpc error: code = NotFound desc = failed to pull and unpack image "{sim.image}": '
                                   f'failed to resolve reference "{sim.image}": not found')


def schedule_error(sim: PodSim, nodes: int) -> str:
    return sim.outcome.message or (f"0/{nodes} nodes are available: {nodes} Insufficient cpu. preemption: 0/{nodes} "
                                   f"nodes are available: {nodes} No preemption victims found for incoming pod.")


def _container_state(sim: PodSim, current: str, now: float, container: dict[str, Any]) -> dict[str, Any]:
    name, image = container.get("name", ""), container.get("image", "")
    status: dict[str, Any] = {"name": name, "image": image, "imageID": "", "restartCount": restarts(sim, now),
                              "ready": current in ("ready", "inactive"), "started": current in ("ready", "inactive")}
    if current in ("ready", "inactive"):
        status["imageID"] = f"{image}@sha256:{'0' * 64}"
        status["state"] = {"running": {"startedAt": sim.stage_since}}
    elif current == "crashloop":
        status["imageID"] = f"{image}@sha256:{'0' * 64}"
        status["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off 10s restarting failed container={name} pod={sim.name}_{sim.namespace}")}}
        status["lastState"] = {"terminated": {"exitCode": sim.outcome.exit_code, "reason": "Error",
                                              "startedAt": sim.stage_since, "finishedAt": rfc3339()}}
    elif current == "errimagepull":
        status["state"] = {"waiting": {"reason": "ErrImagePull", "message": pull_error(sim)}}
    elif current == "imagepullbackoff":
        status["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}}
    else:
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    return status


def _condition(kind: str, ok: bool, since: str, reason: str = "", message: str = "") -> dict[str, Any]:
    cond: dict[str, Any] = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None,
                            "lastTransitionTime": since}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def pod_status(pod: dict[str, Any], sim: PodSim, current: str, now: float, nodes: int) -> dict[str, Any]:
    """The status the kubelet (or the scheduler) reports in stage ``current``."""
    since = sim.stage_since
    if current == "unschedulable":
        return {"phase": "Pending", "qosClass": "BestEffort", "conditions": [_condition(
            "PodScheduled", False, since, "Unschedulable", schedule_error(sim, nodes))]}
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = [_container_state(sim, current, now, c) for c in containers]
    running = current in ("ready", "inactive", "crashloop")
    containers_ready = all(s["ready"] for s in statuses)
    gated = any(g.get("conditionType") == ACTIVE_GATE for g in (pod.get("spec") or {}).get("readinessGates") or [])
    active = current == "ready"
    ready = containers_ready and (active or not gated)
    unready = [s["name"] for s in statuses if not s["ready"]]
    if ready:
        why = ("", "")
    elif not containers_ready:
        why = ("ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        why = ("ReadinessGatesNotReady", f'the status of pod readiness gate "{ACTIVE_GATE}" is not "True", but False')
    conditions = [
        _condition("PodReadyToStartContainers", running, since),
        _condition("Initialized", True, sim.started),
        _condition("Ready", ready, since, *why),
        _condition("ContainersReady", containers_ready, since,
                   *(("", "") if containers_ready else ("ContainersNotReady", why[1]))),
        _condition("PodScheduled", True, sim.started),
    ]
    if gated and running:
        conditions.append(_condition(ACTIVE_GATE, active, since))
    number = sum(map(ord, sim.name)) % 250 + 2
    return {"phase": "Running" if running else "Pending", "conditions": conditions, "containerStatuses": statuses,
            "hostIP": f"10.0.0.{sum(map(ord, sim.node)) % 250 + 2}", "podIP": f"10.244.1.{number}",
            "podIPs": [{"ip": f"10.244.1.{number}"}], "startTime": sim.started, "qosClass": "BestEffort"}


def events(sim: PodSim, current: str, nodes: int) -> list[EventSpec]:
    """The Events a cluster emits about the pod on entering stage ``current``."""
    container = sim.container
    if current == "unschedulable":
        return [EventSpec("Warning", "FailedScheduling", schedule_error(sim, nodes), "default-scheduler")]
    if current == "creating":
        return [EventSpec("Normal", "Scheduled", f"Successfully assigned {sim.namespace}/{sim.name} to {sim.node}",
                          "default-scheduler")]
    if current == "errimagepull":
        return [EventSpec("Warning", "Failed", f'Failed to pull image "{sim.image}": {pull_error(sim)}', "kubelet"),
                EventSpec("Warning", "Failed", "Error: ErrImagePull", "kubelet")]
    if current == "imagepullbackoff":
        return [EventSpec("Normal", "BackOff", f'Back-off pulling image "{sim.image}"', "kubelet"),
                EventSpec("Warning", "Failed", "Error: ImagePullBackOff", "kubelet")]
    if current == "crashloop":
        return [EventSpec("Warning", "BackOff", f"Back-off restarting failed container {container} in pod "
                          f"{sim.name}_{sim.namespace}", "kubelet")]
    if current == "inactive":
        return [EventSpec("Warning", "Inactive", f'pod {sim.name} is not active: readiness gate "{ACTIVE_GATE}" '
                          "is False", "tarscontroller")]
    return []


def log_lines(sim: PodSim, current: str) -> list[str] | str:
    """The container's log, or why there is none yet (a string: the 400 message of the API server)."""
    if current == "unschedulable":
        return f"pod {sim.name} does not have a host assigned"
    if current in ("creating", "errimagepull", "imagepullbackoff"):
        reason = {"creating": "ContainerCreating", "errimagepull": "trying and failing to pull image",
                  "imagepullbackoff": "trying and failing to pull image"}[current]
        return f'container "{sim.container}" in pod "{sim.name}" is waiting to start: {reason}'
    if current == "crashloop":
        return [*sim.outcome.log, sim.outcome.error_line]
    return list(sim.outcome.log)
