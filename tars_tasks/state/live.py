"""What runs in one namespace (the Live side of the one comparison, state/compare.py), read with a fixed number
of calls whatever the number of services: one `helm list`, and one Kubernetes list per kind — helm's deployed
release records (with what tracking proved, state/verification.py), TServers, TConfigs, TImages, StatefulSets,
DaemonSets and pods of TARS servers. ``cluster`` says whether the cluster answered (reachable), did not
(unreachable: the lists are empty and a note says why) or was not asked."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from tars_tasks.core.errors import UsageError
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.core.textenum import TextEnum
from tars_tasks.deploy.kube import APP_LABEL, SERVER_LABEL, Kube, KubeError
from tars_tasks.operate.records import Record, latest


class Cluster(TextEnum):
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"  # helm answered, Kubernetes lists did not: objects and pods are unknown
    NOT_ASKED = "not asked"


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass
class Live:
    namespace: str
    releases: dict[str, dict[str, Any]]  # release name -> `helm list` entry
    records: dict[str, Record] = field(default_factory=dict)  # release name -> its deployed record
    tservers: dict[str, dict[str, Any]] = field(default_factory=dict)
    timages: dict[str, dict[str, Any]] = field(default_factory=dict)
    tconfigs: dict[str, dict[str, Any]] = field(default_factory=dict)
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # StatefulSets and DaemonSets by name
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # server name (app-server) -> its pods
    notes: list[str] = field(default_factory=list)
    cluster: Cluster = Cluster.REACHABLE

    def objects(self, kind: str) -> dict[str, dict[str, Any]] | None:
        """The live objects of a kind the chart makes, by name (None: a kind this reader does not list)."""
        return {"TServer": self.tservers, "TConfig": self.tconfigs, "TImage": self.timages}.get(kind)


def read_live(helm: Helm, kube: Kube, namespace: str) -> Live:
    """Everything `status` compares, for one namespace. No helm answer is a usage error (exit 2); a
    Kubernetes list that fails is a note and leaves that part empty."""
    try:
        releases = {str(r.get("name", "")): r for r in helm.list_releases(namespace)}
    except HelmError as exc:
        raise UsageError(f"cluster not reachable: {exc}") from None
    return read_objects(kube, namespace, releases)


def read_objects(kube: Kube, namespace: str, releases: dict[str, dict[str, Any]], pods: bool = True) -> Live:
    """helm's deployed records and the objects of ``releases`` (`helm list` entries by name), one list call per
    kind; ``pods``: also the workloads and the pods (status needs them, a plan does not)."""
    live = Live(namespace, releases)
    if not live.releases:
        if pods:  # status: config versions a prune left behind are orphans still (operate/status.py)
            with contextlib.suppress(KubeError):
                live.tconfigs = {_name(o): o for o in kube.list_tars(namespace, "TConfig")}
        return live
    try:
        live.records = latest(kube.helm_records(namespace))
        live.tservers = {_name(o): o for o in kube.list_tars(namespace, "TServer")}
        live.timages = {_name(o): o for o in kube.list_tars(namespace, "TImage")}
        live.tconfigs = {_name(o): o for o in kube.list_tars(namespace, "TConfig")}
        if pods:
            live.workloads = {_name(o): o for o in kube.list_workloads(namespace)}
            for pod in kube.list_tars_pods(namespace):
                labels = (pod.get("metadata") or {}).get("labels") or {}
                key = f"{labels.get(APP_LABEL, '')}-{labels.get(SERVER_LABEL, '')}".lower()
                live.pods.setdefault(key, []).append(pod)
    except KubeError as exc:
        live.cluster = Cluster.UNREACHABLE
        live.notes.append(f"the cluster's objects could not be read ({exc}): live columns are empty")
    return live
