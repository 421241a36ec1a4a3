"""A service's TConfig versions, kept the way K8SFramework means them (docs/configs.md).

The framework's rules (its admission webhooks and TConfig controller): a TConfig is one version of a config
file, immutable once created (content, version, who, why); creating an activated version makes the framework
deactivate the previous one of the same app/server/configName/podSeq and keep it as history (TFrameworkConfig
recordLimit.tconfigHistory; the TARS web console lists it); a per-pod config (nodeConfig) needs an activated
master of its name first, and a master cannot be deleted while any per-pod config of its name exists; an
activated version cannot be deleted within 48 s of its creation.

So the versions are kept apart from the helm release (helm would update and delete them, create a master and
its per-pod configs concurrently, and its rollback refuses an object that exists outside the release), and
around each helm upgrade and rollback of a service:
- ``ensure``, before helm applies: each wanted version is created if absent (masters before per-pod configs;
  who and why are set here, once), or re-activated if it is history (a rollback, or content changed back);
  a version that exists and is activated is not written at all;
- ``remove``, after: versions of configs that are no longer declared (a nodeConfig dropped, a config renamed)
  are deleted, per-pod configs before masters and history before the activated version, waiting out the
  deletion guard with a message. Old versions of configs still declared stay: they are the history.
- ``uninstall``/prune removes every version of the service the same way.
"""
from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from tars_tasks.chart.config_names import rendered
from tars_tasks.core.helm import Helm, seconds
from tars_tasks.deploy.kube import Kube, KubeError

RELEASE_LABEL = "tars-tasks.io/release"  # on every TConfig the chart renders (helm-template/templates/tconfig.yaml)
HELM_RELEASE = "meta.helm.sh/release-name"
GUARD_REFUSAL = "deletion guard time"  # the framework's webhook: an activated version younger than 48 s
REFERENCED = "because it is reference by anther tconfig"  # sic: a master with per-pod configs of its name
MAX_PERSON, MAX_REASON = 100, 1600
GUARD_WAIT = 60.0  # removals wait at least this long for the framework's 48 s guard, whatever the helm timeout


class WaitStopped(KubeError):
    """A signal (the run's stop event) ended a wait for the framework's deletion guard: the versions not yet
    deleted are left in the cluster, named in the message (``Configs.done`` says what was deleted before)."""


def removal_deadline(timeout: str) -> float:
    return time.monotonic() + max(seconds(timeout), GUARD_WAIT)


def in_manifest(manifest: str) -> list[dict[str, Any]]:
    """The TConfig objects of a rendered manifest, in order."""
    return [doc for doc in yaml.safe_load_all(manifest or "") if isinstance(doc, dict) and doc.get("kind") == "TConfig"]


def identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    """What a version is a version of: (server, configName, podSeq); server "" for an app-level config."""
    return str(obj.get("server") or ""), str(obj.get("configName") or ""), str(obj.get("podSeq") or "m")


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def is_master(obj: dict[str, Any]) -> bool:
    return identity(obj)[2] == "m"


@dataclass
class Configs:
    kube: Kube
    namespace: str
    progress: Callable[[str], None] = lambda msg: None
    poll: float = 1.0
    done: list[str] = field(default_factory=list)  # what was written, for the deploy log
    cancel: threading.Event = field(default_factory=threading.Event)  # set (a signal): stop waiting

    def live(self, release: str) -> list[dict[str, Any]]:
        """Every version of the release's configs in the namespace (one list call)."""
        found = []
        for obj in self.kube.list_tars(self.namespace, "TConfig"):
            meta = obj.get("metadata") or {}
            if (meta.get("labels") or {}).get(RELEASE_LABEL) == release or \
                    (meta.get("annotations") or {}).get(HELM_RELEASE) == release:
                found.append(obj)
        return found

    def ensure(self, release: str, wanted: list[dict[str, Any]], person: str = "", reason: str = "") -> None:
        """Create the wanted versions that are absent and re-activate those that are history; masters first."""
        if not wanted:
            return
        live = {_name(o): o for o in self.kube.list_tars(self.namespace, "TConfig")}
        for obj in sorted(wanted, key=lambda o: not is_master(o)):
            name, current = _name(obj), live.get(_name(obj))
            if current is None:
                self.kube.create_tars(self.namespace, self._new(release, obj, person, reason))
                self.done.append(f"TConfig {name}: created ({'/'.join(identity(obj)[1:])})")
            elif not current.get("activated"):
                self.kube.patch_tars(self.namespace, "TConfig", name, {"activated": True})
                self.done.append(f"TConfig {name}: re-activated ({'/'.join(identity(obj)[1:])})")

    def _new(self, release: str, obj: dict[str, Any], person: str, reason: str) -> dict[str, Any]:
        body = copy.deepcopy(obj)
        meta = body.setdefault("metadata", {})
        meta["namespace"] = self.namespace
        # helm's ownership marks: the upgrade that follows adopts it instead of refusing an object it did not make
        meta.setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
        meta.setdefault("annotations", {}).update({HELM_RELEASE: release,
                                                   "meta.helm.sh/release-namespace": self.namespace})
        if person:
            body["updatePerson"] = person[:MAX_PERSON]
        if reason:
            body["updateReason"] = reason[:MAX_REASON]
        return body

    def obsolete(self, release: str, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The live versions of configs that ``wanted`` no longer declares (all their versions)."""
        keep = {identity(o) for o in wanted}
        return [o for o in self.live(release) if identity(o) not in keep]

    def remove(self, objs: list[dict[str, Any]], deadline: float) -> None:
        """Delete ``objs`` in an order the framework allows: per-pod configs before masters, history before the
        activated version; a refusal of the deletion guard (or of a master whose per-pod configs are still
        going) is retried until ``deadline``."""
        order = [o for group in ([o for o in objs if not is_master(o)], [o for o in objs if is_master(o)])
                 for o in sorted(group, key=lambda o: bool(o.get("activated")))]
        for i, obj in enumerate(order):
            try:
                self._delete(obj, deadline)
            except WaitStopped as exc:
                left = ", ".join(_name(o) for o in order[i:])
                raise WaitStopped(f"{exc}; left in the cluster: TConfig {left}") from None

    def _delete(self, obj: dict[str, Any], deadline: float) -> None:
        name, told = _name(obj), False
        while True:
            try:
                self.kube.delete_tars(self.namespace, "TConfig", name)
                self.done.append(f"TConfig {name}: deleted ({'/'.join(identity(obj)[1:])})")
                return
            except KubeError as exc:
                waiting = GUARD_REFUSAL in str(exc) or REFERENCED in str(exc)
                if not waiting or time.monotonic() >= deadline:
                    raise
                if not told:
                    why = ("the framework's deletion guard (48 s after its creation)" if GUARD_REFUSAL in str(exc)
                           else "its per-pod configs to go")
                    self.progress(f"TConfig {name}: waiting for {why}")
                    told = True
                if self.cancel.wait(self.poll):
                    raise WaitStopped("stopped while waiting for the framework's deletion guard") from None


def rollback(helm: Helm, kube: Kube, release: str, revision: int, namespace: str, timeout: str,
             progress: Callable[[str], None] = lambda msg: None, person: str = "",
             cancel: threading.Event | None = None) -> list[str]:
    """`helm rollback` with the revision's config versions (rendered from its values) re-activated first (and
    created, masters first, if they are gone: who is ``person``, the run's, and why the rollback), and the
    configs that revision did not have removed after. Returns what was done to TConfigs."""
    configs = Configs(kube, namespace, progress, cancel=cancel or threading.Event())
    wanted = rendered(helm.values(release, namespace, revision), release, namespace)
    configs.ensure(release, wanted, person, f"rollback to revision {revision}")
    helm.rollback(release, revision, namespace, timeout)
    configs.remove(configs.obsolete(release, wanted), removal_deadline(timeout))
    return configs.done


def uninstall(helm: Helm, kube: Kube, release: str, namespace: str, timeout: str,
              progress: Callable[[str], None] = lambda msg: None, cancel: threading.Event | None = None) -> list[str]:
    """`helm uninstall`, then every version of the release's configs (they are not part of the helm release)."""
    helm.uninstall(release, namespace, timeout)
    return remove_all(kube, release, namespace, timeout, progress, cancel)


def remove_all(kube: Kube, release: str, namespace: str, timeout: str,
               progress: Callable[[str], None] = lambda msg: None, cancel: threading.Event | None = None) -> list[str]:
    """Every version of the release's configs removed (after its helm release, or when only they are left)."""
    configs = Configs(kube, namespace, progress, cancel=cancel or threading.Event())
    configs.remove(configs.live(release), removal_deadline(timeout))
    return configs.done
