"""One release at a time per namespace: a Kubernetes Lease (coordination.k8s.io/v1) named for the tool.

The Lease says who holds it (host, pid, CI job id when set) and since when; the holder renews it in a
background thread while it runs and gives it up at the end (also after a signal). A lease not renewed for
its duration (a run that was SIGKILLed, a runner that vanished) is taken over. Writes carry the
resourceVersion read just before, so of two runs racing for a free or expired lease exactly one wins.

A second run waits up to ``wait`` seconds (`--lock-timeout`; default 0: it fails at once, naming the holder).
"""
from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from tars_tasks.core.errors import TarsError
from tars_tasks.deploy.kube import Kube, KubeError

LEASE_NAME = "tars-tasks-release"
CI_JOB_VARIABLES = ("CI_JOB_ID", "GITHUB_RUN_ID", "BUILD_ID")


class LockHeld(TarsError):
    """Another run holds the namespace's release lock."""


def identity() -> str:
    """Who runs this: host, pid and the CI job when there is one."""
    job = next((f" CI job {os.environ[v]}" for v in CI_JOB_VARIABLES if os.environ.get(v)), "")
    return f"{socket.gethostname()} pid {os.getpid()}{job}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Holder:
    """The current holder as the Lease tells it."""

    identity: str
    acquired: datetime | None
    renewed: datetime | None
    duration: int

    def expired(self, now: datetime) -> bool:
        last = self.renewed or self.acquired
        return last is None or (now - last).total_seconds() > self.duration

    def describe(self, now: datetime) -> str:
        since = f" since {_stamp(self.acquired)}" if self.acquired else ""
        renewed = f", renewed {(now - self.renewed).total_seconds():.0f}s ago" if self.renewed else ""
        return f"{self.identity}{since}{renewed}"


def holder_of(spec: dict[str, Any]) -> Holder | None:
    """The holder named by a Lease's spec, or None when it is free."""
    who = spec.get("holderIdentity") or ""
    if not who:
        return None
    return Holder(who, _time(spec.get("acquireTime")), _time(spec.get("renewTime")),
                  int(spec.get("leaseDurationSeconds") or 0))


class ReleaseLock:
    """``with ReleaseLock(kube, "tars"):`` runs the body holding the namespace's lease."""

    def __init__(self, kube: Kube, namespace: str, duration: float = 60.0, wait: float = 0.0,
                 cancel: threading.Event | None = None, on_lost: Callable[[str], None] = lambda why: None,
                 now: Callable[[], datetime] = _now, who: str | None = None,
                 waiting: Callable[[str], None] = lambda msg: None):
        self.kube, self.namespace = kube, namespace
        self.duration = max(1, int(duration))
        self.wait = max(0.0, wait)
        self.cancel = cancel or threading.Event()
        self.on_lost = on_lost
        self.now = now
        self.who = who or identity()
        self.waiting = waiting  # told who holds the lock and how long this run still waits, once a second
        self.lost = ""  # why the lease was lost mid-run (whose it is now, and when that was seen)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.held = False

    # --- the Lease ---------------------------------------------------------------------------------------

    def _api(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call lightkube; ApiError passes through (the caller looks at 404/409), the rest is a KubeError."""
        import httpx
        from lightkube.core.exceptions import ApiError

        try:
            return fn(*args, **kwargs)
        except ApiError:
            raise
        except httpx.HTTPError as exc:
            raise KubeError(f"{what}: cluster not reachable: {exc}") from None

    def _read(self) -> dict[str, Any] | None:
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.coordination_v1 import Lease

        try:
            lease = self._api(f"get Lease {LEASE_NAME}", self.kube.client().get, Lease, LEASE_NAME,
                              namespace=self.namespace)
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise KubeError(f"get Lease {LEASE_NAME}: {exc.status.code} {exc.status.message}") from None
        return dict(lease.to_dict())

    def _spec(self, acquired: datetime, transitions: int) -> dict[str, Any]:
        now = self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"holderIdentity": self.who, "acquireTime": acquired.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "renewTime": now, "leaseDurationSeconds": self.duration, "leaseTransitions": transitions}

    def _write(self, current: dict[str, Any] | None, spec: dict[str, Any]) -> bool:
        """Create or replace the Lease (guarded by the resourceVersion read); False when another run won."""
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.coordination_v1 import Lease

        meta: dict[str, Any] = {"name": LEASE_NAME, "namespace": self.namespace,
                                "labels": {"app.kubernetes.io/managed-by": "tars-tasks"}}
        if current is not None:
            meta["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
        lease = Lease.from_dict({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                                 "spec": spec})
        client = self.kube.client()
        try:
            if current is None:
                self._api("create Lease", client.create, lease, namespace=self.namespace)
            else:
                self._api("update Lease", client.replace, lease, namespace=self.namespace)
            return True
        except ApiError as exc:
            if exc.status.code == 409:
                return False
            if exc.status.code == 404 and current is None:  # a new cluster: the namespace comes first
                self._create_namespace()
                return False
            raise KubeError(f"write Lease {LEASE_NAME}: {exc.status.code} {exc.status.message}") from None

    def _create_namespace(self) -> None:
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.core_v1 import Namespace

        try:
            self._api("create Namespace", self.kube.client().create,
                      Namespace.from_dict({"metadata": {"name": self.namespace}}))
        except ApiError as exc:
            if exc.status.code != 409:
                raise KubeError(f"create namespace {self.namespace}: {exc.status.code} "
                                f"{exc.status.message}") from None

    # --- acquire, renew, release ---------------------------------------------------------------------------

    def try_acquire(self) -> Holder | None:
        """Take the lease when it is free, expired or ours. Returns None when taken, else the live holder."""
        for _ in range(5):  # lost races retry at once: the next read sees the winner
            current = self._read()
            spec = (current or {}).get("spec") or {}
            holder = holder_of(spec)
            now = self.now()
            if holder is not None and holder.identity != self.who and not holder.expired(now):
                return holder
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder is None else 1)
            if self._write(current, self._spec(now, transitions)):
                self.held = True
                return None
        raise KubeError(f"Lease {LEASE_NAME}: kept changing while taking it; try again")

    def acquire(self) -> None:
        """Take the lease, waiting up to ``wait`` seconds for the holder; start renewing it."""
        deadline = time.monotonic() + self.wait
        while True:
            holder = self.try_acquire()
            if holder is None:
                break
            left = deadline - time.monotonic()
            if left > 0 and not self.cancel.is_set():
                self.waiting(f"waiting for the release lock of namespace {self.namespace}, held by "
                             f"{holder.describe(self.now())}: {left:.0f}s left")
            if left <= 0 or self.cancel.is_set():
                waited = f" (waited {self.wait:.0f}s)" if self.wait else ""
                raise LockHeld(f"namespace {self.namespace} is being released by {holder.describe(self.now())}"
                               f"{waited}: wait for it with --lock-timeout SECONDS; a run that died gives the lock "
                               f"up {holder.duration}s after its last renewal (Lease {self.namespace}/{LEASE_NAME})")
            self.cancel.wait(min(1.0, left))
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="tars-lock-renew", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.duration / 3):
            try:
                current = self._read()
                spec = (current or {}).get("spec") or {}
                holder = holder_of(spec)
                if holder is None or holder.identity != self.who:
                    self.held = False
                    now = self.now()
                    whose = f"taken over by {holder.describe(now)}" if holder else "given up by someone else"
                    self.lost = (f"the release lock (Lease {self.namespace}/{LEASE_NAME}) was {whose}; seen at "
                                 f"{_stamp(now)}: nothing new was started")
                    self.on_lost(self.lost)
                    return
                self._write(current, {**spec, "renewTime": self.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
            except KubeError:  # a blip: the next renewal tries again; the lease lasts 3 renewals
                continue

    def release(self) -> None:
        """Stop renewing and give the lease up (only when it is still ours)."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=15)
        if not self.held:
            return
        self.held = False
        for _ in range(5):
            current = self._read()
            spec = (current or {}).get("spec") or {}
            holder = holder_of(spec)
            if current is None or holder is None or holder.identity != self.who:
                return
            free = {k: v for k, v in spec.items() if k not in ("holderIdentity", "acquireTime", "renewTime")}
            if self._write(current, free):
                return

    def __enter__(self) -> ReleaseLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
