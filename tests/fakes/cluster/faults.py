"""Single request failures a test asks for: the Nth request of a method to a path answers 500 (or 429), or has
its connection reset, once. What a flaky API server or a load balancer blip does to a client mid-rollout."""
from __future__ import annotations

import threading
from dataclasses import dataclass

ERROR, TOO_MANY, RESET = "500", "429", "reset"


@dataclass
class Fault:
    method: str
    path: str  # a request path that starts with this (no query) is counted
    nth: int  # the nth matching request from now (1 = the next one) fails, counted whatever other faults do
    kind: str  # "500" | "429" | "reset"
    seen: int = 0
    fired: bool = False


class Faults:
    """The faults still to fire; the API server asks ``take`` once per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending: list[Fault] = []
        self.fired: list[Fault] = []
        self.down = False  # every request has its connection reset (the API server is gone)

    def add(self, path: str, nth: int = 1, kind: str = ERROR, method: str = "GET") -> Fault:
        if kind not in (ERROR, TOO_MANY, RESET):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(method, path, nth, kind)
        with self._lock:
            self.pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> str | None:
        """The kind of fault this request meets, or None (it is served)."""
        if self.down:
            return RESET
        with self._lock:
            matching = [f for f in self.pending if f.method == method and path.startswith(f.path)]
            for fault in matching:  # every fault counts every request it matches
                fault.seen += 1
            due = next((f for f in matching if f.seen == f.nth), None)
            if due is None:
                return None
            due.fired = True
            self.pending.remove(due)
            self.fired.append(due)
            return due.kind
