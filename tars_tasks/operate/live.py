"""What runs in one namespace, read with a fixed number of calls whatever the number of services: one
`helm list`, and one Kubernetes list per kind — TServers, TImages, TConfigs, StatefulSets, DaemonSets, pods of TARS
servers, and helm's deployed release records (which also carry the failed-rollout label, deploy/rollout.py)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from tars_tasks.core.errors import UsageError
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.deploy.kube import APP_LABEL, SERVER_LABEL, Kube, KubeError
from tars_tasks.operate.records import Record, latest


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass
class Live:
    namespace: str
    releases: dict[str, dict[str, Any]]  # release name -> `helm list` entry
    records: dict[str, Record] = field(default_factory=dict)  # release name -> its deployed record
    tservers: dict[str, dict[str, Any]] = field(default_factory=dict)
    timages: dict[str, dict[str, Any]] = field(default_factory=dict)
    tconfigs: dict[str, dict[str, Any]] = field(default_factory=dict)  # every version, by name (deploy/configs.py)
    workloads: dict[str, dict[str, Any]] = field(default_factory=dict)  # StatefulSets and DaemonSets by name
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # server name (app-server) -> its pods
    notes: list[str] = field(default_factory=list)


def read_live(helm: Helm, kube: Kube, namespace: str) -> Live:
    """Everything `status` compares, for one namespace. No helm answer is a usage error (exit 2); a
    Kubernetes list that fails is a note and leaves that part empty."""
    try:
        releases = {str(r.get("name", "")): r for r in helm.list_releases(namespace)}
    except HelmError as exc:
        raise UsageError(f"cluster not reachable: {exc}") from None
    live = Live(namespace, releases)
    if not live.releases:  # config versions a prune left behind are orphans still (operate/status.py)
        with contextlib.suppress(KubeError):
            live.tconfigs = {_name(o): o for o in kube.list_tars(namespace, "TConfig")}
        return live
    try:
        live.tconfigs = {_name(o): o for o in kube.list_tars(namespace, "TConfig")}
        live.records = latest(kube.helm_records(namespace))
        live.tservers = {_name(o): o for o in kube.list_tars(namespace, "TServer")}
        live.timages = {_name(o): o for o in kube.list_tars(namespace, "TImage")}
        live.workloads = {_name(o): o for o in kube.list_workloads(namespace)}
        for pod in kube.list_tars_pods(namespace):
            labels = (pod.get("metadata") or {}).get("labels") or {}
            key = f"{labels.get(APP_LABEL, '')}-{labels.get(SERVER_LABEL, '')}".lower()
            live.pods.setdefault(key, []).append(pod)
    except KubeError as exc:
        live.notes.append(f"the cluster's objects could not be read ({exc}): live columns are empty")
    return live
