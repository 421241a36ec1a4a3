"""What happened in the fake cluster, in order and timestamped (``time.monotonic()`` seconds)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .store import Change


@dataclass(frozen=True)
class Request:
    """One HTTP request the API server answered."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    accept: str
    user_agent: str
    code: int = 0


@dataclass(frozen=True)
class ObjectChange:
    """One object written: ADDED, MODIFIED or DELETED, with its resourceVersion."""

    time: float
    type: str
    kind: str
    namespace: str
    name: str
    rv: int
    generation: int


@dataclass(frozen=True)
class PodTransition:
    """A pod's readiness as it changed: created (ready False), became ready or unready, deleted."""

    time: float
    namespace: str
    pod: str
    server: str  # the owning workload's name (= the TServer's name for operator-made pods)
    ready: bool
    phase: str
    reason: str  # what keeps it unready: ContainerCreating, CrashLoopBackOff, Unschedulable, ... ("" if ready)
    image: str
    deleted: bool = False


@dataclass(frozen=True)
class ServerTransition:
    """A TServer's workload became fully ready (all desired pods updated and Ready) or stopped being."""

    time: float
    namespace: str
    server: str
    ready: bool
    image: str
    release_id: str


@dataclass
class Record:
    """The append-only log of a fake cluster; thread-safe appends, snapshots for readers."""

    requests: list[Request] = field(default_factory=list)
    changes: list[ObjectChange] = field(default_factory=list)
    pods: list[PodTransition] = field(default_factory=list)
    servers: list[ServerTransition] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, entry: Request | ObjectChange | PodTransition | ServerTransition) -> None:
        target = {Request: self.requests, ObjectChange: self.changes, PodTransition: self.pods,
                  ServerTransition: self.servers}[type(entry)]
        with self.lock:
            target.append(entry)

    def on_change(self, change: Change) -> None:
        """A store listener: log every committed object change."""
        meta: dict[str, Any] = change.object.get("metadata", {})
        self.add(ObjectChange(change.time, change.type, change.object.get("kind", ""), change.key[2],
                              change.key[3], change.rv, meta.get("generation", 0)))

    def snapshot(self) -> tuple[list[Request], list[ObjectChange], list[PodTransition], list[ServerTransition]]:
        with self.lock:
            return list(self.requests), list(self.changes), list(self.pods), list(self.servers)
