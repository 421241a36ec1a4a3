"""Tracking by Kubernetes watch instead of polling: one watch per kind per namespace, shared by every tracker
of a run, keeps a cache of the TServers, StatefulSets, DaemonSets and TARS pods (list, then watch from the
list's resourceVersion, as client-go's informers do). A tracker judges from the cache (deploy/track.py judge)
and waits for the next change instead of sleeping: it sees Ready when the API server says so, and a run makes
a fixed number of requests whatever the number of services and however long they take.

While a kind is not in sync (the first list has not answered, a watch broke and is being re-listed with
backoff), ``look`` answers None and the tracker asks the API itself (deploy/rollout.py Rollout.look), so a
watch that cannot be opened costs latency, never correctness.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from tars_tasks.deploy.kube import APP_LABEL, SERVER_LABEL, TARS_GROUP, Kube
from tars_tasks.deploy.track import Target, Verdict, judge

KINDS = ("TServer", "StatefulSet", "DaemonSet", "Pod")
WATCH_SECONDS = 20  # the server ends each watch request after this (below the client's read timeout)
RETRY_FIRST, RETRY_MAX = 0.2, 5.0


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


class NamespaceWatch:
    """The cache of one namespace, kept current by one watch thread per kind; ``close`` stops them."""

    def __init__(self, kube: Kube, namespace: str):
        self.kube, self.namespace = kube, namespace
        self.cond = threading.Condition()
        self.cache: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        self.synced: set[str] = set()
        self.changes = 0  # bumped on every event: a waiter wakes when it moved
        self.errors: list[str] = []  # what broke a watch (kept for the log; the watch re-lists)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._follow, args=(kind,), name=f"watch-{kind}", daemon=True)
                         for kind in KINDS]

    def start(self) -> NamespaceWatch:
        for thread in self._threads:
            thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        with self.cond:
            self.cond.notify_all()

    # --- the watches ---------------------------------------------------------------------------------------

    def _resource(self, kind: str) -> tuple[Any, dict[str, Any] | None]:
        from lightkube import operators
        from lightkube.generic_resource import create_namespaced_resource
        from lightkube.resources.apps_v1 import DaemonSet, StatefulSet
        from lightkube.resources.core_v1 import Pod

        if kind == "TServer":
            version = self.kube.api_version.rsplit("/", 1)[-1]
            return create_namespaced_resource(TARS_GROUP, version, "TServer", "tservers"), None
        if kind == "Pod":
            return Pod, {APP_LABEL: operators.exists()}
        return {"StatefulSet": StatefulSet, "DaemonSet": DaemonSet}[kind], None

    def _follow(self, kind: str) -> None:
        """List, then watch from the list's version; on any error mark the kind out of sync, back off, re-list."""
        resource, labels = self._resource(kind)
        retry = RETRY_FIRST
        while not self._stop.is_set():
            try:
                client = self.kube.client()
                listed = client.list(resource, namespace=self.namespace, labels=labels)
                objects = {_name(o): o for o in (_as_dict(x) for x in listed)}
                version = listed.resourceVersion
                with self.cond:
                    self.cache[kind] = objects
                    self.synced.add(kind)
                    self.changes += 1
                    self.cond.notify_all()
                retry = RETRY_FIRST
                for op, obj in client.watch(resource, namespace=self.namespace, labels=labels,
                                            resource_version=version, server_timeout=WATCH_SECONDS):
                    if self._stop.is_set():
                        return
                    self._apply(kind, op, _as_dict(obj))
            except Exception as exc:  # noqa: BLE001 - any failure of a watch means: re-list (polling meanwhile)
                with self.cond:
                    self.synced.discard(kind)
                    self.errors.append(f"watch {kind}: {exc}")
                    self.changes += 1
                    self.cond.notify_all()
                self._stop.wait(retry)
                retry = min(retry * 2, RETRY_MAX)

    def _apply(self, kind: str, op: str, obj: dict[str, Any]) -> None:
        with self.cond:
            if op == "DELETED":
                self.cache[kind].pop(_name(obj), None)
            else:
                self.cache[kind][_name(obj)] = obj
            self.changes += 1
            self.cond.notify_all()

    # --- for trackers --------------------------------------------------------------------------------------

    def look(self, target: Target) -> tuple[Verdict | None, int]:
        """(the verdict from the cache, or None while a kind is out of sync; the change count it saw)."""
        with self.cond:
            seen = self.changes
            if len(self.synced) < len(KINDS):
                return None, seen
            tserver = self.cache["TServer"].get(target.name)
            daemon = bool((((tserver or {}).get("spec") or {}).get("k8s") or {}).get("daemonSet"))
            workload = self.cache["DaemonSet" if daemon else "StatefulSet"].get(target.name) if tserver else None
            pods = [p for p in self.cache["Pod"].values()
                    if ((p.get("metadata") or {}).get("labels") or {}).get(APP_LABEL) == target.app
                    and ((p.get("metadata") or {}).get("labels") or {}).get(SERVER_LABEL) == target.server]
            return judge(target, tserver, workload, pods if workload else []), seen

    def wait(self, seen: int, timeout: float) -> None:
        """Until something changed since ``seen`` (or ``timeout`` seconds, or close)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.changes == seen and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.cond.wait(left)
