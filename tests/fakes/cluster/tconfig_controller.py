"""K8SFramework's TConfig controller and the TTemplates the framework installs, for the fake cluster.

The controller (upstream src/ControllerServer/controller/tars/v1beta3/tconfig.go) runs as the framework's
controller account, which the webhooks let through. On each tick, per namespace:
- deactivation: a TConfig labelled ``tars.io/Deactivate`` (by the webhook, when a newer version of the same
  app/server/configName/podSeq was activated) loses the label and becomes ``activated: false``
  (label ``tars.io/Activated: "false"``): it is now history, which the TARS web console lists;
- deletion: every TConfig labelled ``tars.io/Deleting`` (the history of a deleted activated version) is deleted;
- history: of the deactivated versions of one app/server/configName/podSeq, at most ``history`` are kept
  (TFrameworkConfig ``recordLimit.tconfigHistory``, default 10); the oldest by ``tars.io/Version`` go. This is
  what upstream means to do: at HEAD (2632089) it looks the name up in a map it never fills, so its delete
  fails and retries forever and the history is never pruned.

TTemplates: every namespace gets the templates the framework ships (``TEMPLATES``), as the framework's
install does, so TServers can name them; a test adds its own with ``FakeCluster.create``.
"""
from __future__ import annotations

import contextlib
from typing import Any

from .resources import by_kind
from .store import ApiError, Change, Store
from .ticker import Ticker
from .webhooks import ACTIVATED, APP, CONFIG_NAME, DEACTIVATE, DELETING, POD_SEQ, SERVER, VERSION

TCONFIG, TTEMPLATE, NAMESPACE = by_kind("TConfig"), by_kind("TTemplate"), by_kind("Namespace")
TEMPLATES = ("tars.default", "tars.cpp", "tars.java", "tars.nodejs", "tars.php", "tars.es")
DEFAULT_HISTORY = 10


def ttemplate(namespace: str, name: str) -> dict[str, Any]:
    parent = "tars.default"
    return {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TTemplate",
            "metadata": {"name": name, "namespace": namespace, "labels": {"tars.io/Parent": parent}},
            "spec": {"content": f"<tars>\n  <application>\n    <server>\n      # {name}\n    </server>\n"
                                "  </application>\n</tars>\n", "parent": parent}}


def install_templates(store: Store, namespace: str) -> None:
    for name in TEMPLATES:
        if store.find(TTEMPLATE, namespace, name) is None:
            with contextlib.suppress(ApiError):
                store.create(TTEMPLATE, namespace, ttemplate(namespace, name))


class TConfigController(Ticker):
    """The background thread that plays upstream's TConfig controller; also installs TTemplates."""

    def __init__(self, store: Store, history: int = DEFAULT_HISTORY, tick: float = 0.05):
        super().__init__(tick, "fake-tconfig-controller")
        self.store, self.history = store, history
        self._settled_rv: int | None = None  # the store's resourceVersion after a tick that had nothing to do
        for ns in self.store.list(NAMESPACE)[0]:
            install_templates(store, ns["metadata"]["name"])
        store.listeners.append(self._on_change)

    def _on_change(self, change: Change) -> None:
        """A new namespace gets the framework's templates at once (before anything else can be created in it)."""
        if change.type == "ADDED" and change.key[:2] == ("", "namespaces"):
            install_templates(self.store, change.key[3])

    def tick(self) -> None:
        if self._settled_rv == self.store.rv:
            return  # nothing changed since a tick that had nothing to do: neither has this one (each copies every TConfig)
        before = self.store.rv
        configs = self.store.list(TCONFIG)[0]
        work = 0
        for obj in configs:
            labels = obj["metadata"].get("labels") or {}
            if DEACTIVATE in labels:
                work += 1
                self._deactivate(obj)
        for obj in configs:
            if DELETING in (obj["metadata"].get("labels") or {}):
                work += 1
                self._delete(obj)
        work += self._prune_history()
        # work refused (a webhook's time guard) is tried again on the next tick
        self._settled_rv = before if work == 0 and self.store.rv == before else None

    def _deactivate(self, obj: dict[str, Any]) -> None:
        def change(live: dict[str, Any]) -> None:
            labels = live["metadata"].setdefault("labels", {})
            labels.pop(DEACTIVATE, None)
            labels[ACTIVATED] = "false"
            live["activated"] = False
        self.store.mutate(TCONFIG, obj["metadata"]["namespace"], obj["metadata"]["name"], change)

    def _delete(self, obj: dict[str, Any]) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(TCONFIG, obj["metadata"]["namespace"], obj["metadata"]["name"])

    def _prune_history(self) -> int:
        """Delete the deactivated versions beyond the history kept; how many it tried to delete."""
        tried = 0
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for obj in self.store.list(TCONFIG)[0]:
            labels = obj["metadata"].get("labels") or {}
            if labels.get(ACTIVATED) == "false" and DELETING not in labels:
                key = (obj["metadata"]["namespace"], *(labels.get(k, "") for k in (APP, SERVER, CONFIG_NAME, POD_SEQ)))
                groups.setdefault(key, []).append(obj)
        for objs in groups.values():
            objs.sort(key=lambda o: ((o["metadata"].get("labels") or {}).get(VERSION, ""),
                                     int(o["metadata"].get("resourceVersion") or 0)))
            for obj in objs[:max(0, len(objs) - self.history)]:
                tried += 1
                self._delete(obj)
        return tried
