"""What a release did, per service: status, why, each step's timing. Plain data with a JSON form."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tars_tasks.core.textenum import TextEnum


class ServiceStatus(TextEnum):
    PENDING = "pending"
    DEPLOYED = "deployed"
    DRY_RUN = "dry-run"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"  # failed, and rolled back to the last good revision
    SKIPPED = "skipped"
    PAUSED = "paused"  # a canary stopped at a step (pause: manual): invoke promote / invoke abort go on
    ABORTED = "aborted"  # a canary step failed: back on the previous revision (deploy/canary.py)
    INTERRUPTED = "interrupted"  # a signal stopped the run before this service's deploy ended



OK_STATUSES = (ServiceStatus.DEPLOYED, ServiceStatus.UNCHANGED, ServiceStatus.DRY_RUN, ServiceStatus.PAUSED)


@dataclass
class StepRecord:
    start: float
    end: float = 0.0
    status: str = "running"  # ok | failed
    error: str = ""

    @property
    def seconds(self) -> float:
        return round(max(0.0, self.end - self.start), 3) if self.end else 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "seconds": self.seconds, "status": self.status}
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class ServiceReport:
    id: str
    status: ServiceStatus = ServiceStatus.PENDING
    reason: str = ""
    image: str = ""
    chart: str = ""  # path of the packaged chart
    build: dict[str, Any] | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    rollout: dict[str, Any] | None = None  # what tracking saw (deploy/track.py), when tracked
    warnings: list[str] = field(default_factory=list)  # e.g. a log that could not be written: not a failure

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps.values())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status.value, "reason": self.reason,
                               "image": self.image, "chart": self.chart, "build": self.build,
                               "steps": {name: rec.to_json() for name, rec in self.steps.items()}}
        if self.rollout is not None:
            out["rollout"] = self.rollout
        if self.warnings:
            out["warnings"] = self.warnings
        return out


@dataclass
class Report:
    services: list[ServiceReport]
    seconds: float
    dry_run: bool
    namespace: str
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)  # what ended the run early, what failed after it (the lock)
    lock_lost: bool = False  # another run held the namespace's lock during this one (a note says whose, when)

    @property
    def ok(self) -> bool:
        return not self.interrupted and not self.lock_lost and all(s.status in OK_STATUSES for s in self.services)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.services:
            counts[s.status.value] = counts.get(s.status.value, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "dryRun": self.dry_run, "namespace": self.namespace, "seconds": round(self.seconds, 3),
                "interrupted": self.interrupted, "lockLost": self.lock_lost, "counts": self.counts(),
                "notes": self.notes, "services": [s.to_json() for s in self.services]}
