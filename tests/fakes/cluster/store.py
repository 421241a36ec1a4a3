"""The object store behind the fake API server: one resourceVersion counter, watch history, API errors."""
from __future__ import annotations

import base64
import copy
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .patches import server_side_apply
from .resources import Resource, by_kind, crd, custom_resources
from .selectors import Predicate

Key = tuple[str, str, str, str]  # group, plural, namespace ("" if cluster-scoped), name
_SYSTEM_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp", "managedFields")


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error the API server answers with a Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body

    @classmethod
    def not_found(cls, resource: Resource, name: str) -> ApiError:
        gr = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
        return cls(404, "NotFound", f'{gr} "{name}" not found',
                   {"name": name, "group": resource.group, "kind": resource.plural})

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)


@dataclass(frozen=True)
class Change:
    """One committed change, as a watcher sees it."""

    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    key: Key
    object: dict[str, Any]
    time: float


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class Store:
    """Objects by key, a single monotonically increasing resourceVersion, and the history of changes."""

    def __init__(self, namespaces: tuple[str, ...] = ("default", "kube-system")):
        self.cond = threading.Condition()
        self.objects: dict[Key, dict[str, Any]] = {}
        self.history: list[Change] = []
        self.listeners: list[Callable[[Change], None]] = []
        self._rv = itertools.count(1)
        self.rv = 0
        self._applied: dict[tuple[Key, str], dict[str, Any]] = {}
        self.closed = False
        self.admission: Any = None  # the framework's webhooks (webhooks.Webhooks): create/update/delete hooks
        for ns in namespaces:
            self.create(by_kind("Namespace"), "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        for resource in custom_resources():
            definition = crd(resource)
            self.create(by_kind("CustomResourceDefinition"), "", definition)

    # --- reads ---------------------------------------------------------------------------------------------

    @staticmethod
    def key(resource: Resource, namespace: str, name: str) -> Key:
        return resource.group, resource.plural, namespace if resource.namespaced else "", name

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        with self.cond:
            obj = self.objects.get(self.key(resource, namespace, name))
            if obj is None:
                raise ApiError.not_found(resource, name)
            return copy.deepcopy(obj)

    def find(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.get(resource, namespace, name)
        except ApiError:
            return None

    def list(self, resource: Resource, namespace: str | None = None,
             predicate: Predicate | None = None) -> tuple[list[dict[str, Any]], int]:
        """Matching objects (all namespaces if ``namespace`` is None) sorted by namespace and name, and the rv."""
        with self.cond:
            items = [copy.deepcopy(obj) for key, obj in sorted(self.objects.items())
                     if self._in(key, resource, namespace) and (predicate is None or predicate(obj))]
            return items, self.rv

    @staticmethod
    def _in(key: Key, resource: Resource, namespace: str | None) -> bool:
        return key[:2] == (resource.group, resource.plural) and (namespace is None or key[2] == namespace)

    def namespace_exists(self, namespace: str) -> bool:
        with self.cond:
            return ("", "namespaces", "", namespace) in self.objects

    # --- writes --------------------------------------------------------------------------------------------

    def _commit(self, kind: str, key: Key, obj: dict[str, Any]) -> dict[str, Any]:
        self.rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        if kind == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        change = Change(self.rv, kind, key, copy.deepcopy(obj), time.monotonic())
        self.history.append(change)
        for listener in self.listeners:
            listener(change)
        self.cond.notify_all()
        return copy.deepcopy(obj)

    def _require_namespace(self, resource: Resource, namespace: str) -> None:
        if resource.namespaced and ("", "namespaces", "", namespace) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                           {"name": namespace, "kind": "namespaces"})

    def create(self, resource: Resource, namespace: str, obj: dict[str, Any],
               version: str | None = None) -> dict[str, Any]:
        """POST: a new object (409 AlreadyExists if its name is taken)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required")
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError.bad_request("the namespace of the provided object does not match the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        with self.cond:
            self._require_namespace(resource, namespace)
            key = self.key(resource, namespace, meta["name"])
            if key in self.objects:
                gr = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
                raise ApiError(409, "AlreadyExists", f'{gr} "{meta["name"]}" already exists',
                               {"name": meta["name"], "group": resource.group, "kind": resource.plural})
            for field in _SYSTEM_META:
                meta.pop(field, None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
            obj["apiVersion"], obj["kind"] = resource.api_version(version), resource.kind
            if resource.kind == "Namespace":
                obj.setdefault("spec", {"finalizers": ["kubernetes"]})
                obj["status"] = {"phase": "Active"}
            if resource.kind == "Secret":
                self._string_data(obj)
            if self.admission is not None:
                obj = self.admission.create(resource, namespace, obj)
                committed = self._commit("ADDED", key, obj)
                self.admission.created_object(resource, committed)
                return committed
            return self._commit("ADDED", key, obj)

    @staticmethod
    def _string_data(obj: dict[str, Any]) -> None:
        for k, v in (obj.pop("stringData", None) or {}).items():
            obj.setdefault("data", {})[k] = base64.b64encode(v.encode()).decode()

    def update(self, resource: Resource, namespace: str, name: str, obj: dict[str, Any],
               version: str | None = None, subresource: str = "") -> dict[str, Any]:
        """PUT: replace an object; a stale resourceVersion is a 409 Conflict, none is unconditional."""
        with self.cond:
            live = self.objects.get(self.key(resource, namespace, name))
            if live is None:
                raise ApiError.not_found(resource, name)
            wanted = (obj.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != live["metadata"]["resourceVersion"]:
                gr = f"{resource.plural}.{resource.group}" if resource.group else resource.plural
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {gr} "{name}": the object has '
                               "been modified; please apply your changes to the latest version and try again",
                               {"name": name, "group": resource.group, "kind": resource.plural})
            return self._replace(resource, live, copy.deepcopy(obj), version, subresource)

    def _replace(self, resource: Resource, live: dict[str, Any], new: dict[str, Any], version: str | None,
                 subresource: str) -> dict[str, Any]:
        """Write ``new`` over ``live``, keeping what the server owns (identity, and status or spec)."""
        if subresource == "status":
            new = {**copy.deepcopy(live), "status": new.get("status", {})}
        elif resource.has_status and "status" in live:
            new["status"] = copy.deepcopy(live["status"])
        elif resource.has_status:
            new.pop("status", None)
        meta = new.setdefault("metadata", {})
        live_meta = live["metadata"]
        meta["name"] = live_meta["name"]
        if resource.namespaced:
            meta["namespace"] = live_meta["namespace"]
        for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if field in live_meta:
                meta[field] = live_meta[field]
            else:
                meta.pop(field, None)
        if self.admission is not None:
            new = self.admission.update(resource, live, new, subresource)
            meta = new["metadata"]
        if _spec_part(new) != _spec_part(live):
            meta["generation"] = live_meta.get("generation", 1) + 1
        new["apiVersion"], new["kind"] = resource.api_version(version), resource.kind
        if resource.kind == "Secret":
            self._string_data(new)
        if new == live:
            return copy.deepcopy(live)
        return self._commit("MODIFIED", self.key(resource, live_meta.get("namespace", ""), live_meta["name"]), new)

    def mutate(self, resource: Resource, namespace: str, name: str,
               change: Callable[[dict[str, Any]], None], subresource: str = "") -> dict[str, Any] | None:
        """Apply ``change`` to the live object under the lock (no write if nothing changed); None if absent."""
        with self.cond:
            live = self.objects.get(self.key(resource, namespace, name))
            if live is None:
                return None
            new = copy.deepcopy(live)
            change(new)
            return self._replace(resource, live, new, None, subresource)

    def patch(self, resource: Resource, namespace: str, name: str,
              patcher: Callable[[dict[str, Any]], dict[str, Any]], version: str | None = None,
              subresource: str = "") -> dict[str, Any]:
        """PATCH: ``patcher`` maps the live object to the new one."""
        with self.cond:
            live = self.objects.get(self.key(resource, namespace, name))
            if live is None:
                raise ApiError.not_found(resource, name)
            return self._replace(resource, live, patcher(copy.deepcopy(live)), version, subresource)

    def apply(self, resource: Resource, namespace: str, name: str, applied: dict[str, Any], manager: str,
              version: str | None = None, subresource: str = "") -> tuple[dict[str, Any], bool]:
        """Server-side apply: create if absent, else merge; returns the object and whether it was created."""
        meta = applied.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        with self.cond:
            key = self.key(resource, namespace, name)
            live = self.objects.get(key)
            previous = self._applied.get((key, manager))
            wanted = meta.get("resourceVersion")
            if live and wanted and wanted != live["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f'the object "{name}" has been modified')
            if live is None:
                body = copy.deepcopy(applied)
                body.setdefault("metadata", {})["name"] = name
                result = self.create(resource, namespace, body, version)
            else:
                merged = server_side_apply(live, applied, previous)
                result = self._replace(resource, live, merged, version, subresource)
            self._applied[(key, manager)] = copy.deepcopy(applied)  # once admitted: a refused apply is not
            return result, live is None

    def delete(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        """DELETE: immediate (no finalizers, no grace period); a namespace takes its objects with it."""
        with self.cond:
            key = self.key(resource, namespace, name)
            live = self.objects.get(key)
            if live is None:
                raise ApiError.not_found(resource, name)
            if resource.kind == "Namespace":
                for inner in [k for k in self.objects if k[2] == name]:
                    self._commit("DELETED", inner, copy.deepcopy(self.objects[inner]))
            if self.admission is not None:
                self.admission.delete(resource, live)
            for applied in [a for a in self._applied if a[0] == key]:
                del self._applied[applied]
            return self._commit("DELETED", key, copy.deepcopy(live))

    # --- watches -------------------------------------------------------------------------------------------

    def changes_after(self, rv: int, resource: Resource, namespace: str | None,
                      timeout: float) -> Iterator[Change]:
        """The changes of ``resource`` after ``rv``, waiting up to ``timeout`` for at least one."""
        with self.cond:
            deadline = time.monotonic() + timeout
            while not self.closed:
                found = [c for c in self._since(rv) if self._in(c.key, resource, namespace)]
                if found:
                    return iter(found)
                if not self.cond.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                    return iter(())
            return iter(())

    def _since(self, rv: int) -> list[Change]:
        # history is ordered by rv: bisect by hand
        lo, hi = 0, len(self.history)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.history[mid].rv <= rv:
                lo = mid + 1
            else:
                hi = mid
        return self.history[lo:]

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
