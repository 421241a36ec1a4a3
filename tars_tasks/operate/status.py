"""`status`: per service, what git would deploy against what runs, and a verdict.

What git would deploy is computed the way `plan` does (plan/make.py: select, then the artifacts and charts
of the selected services; no registry is asked). What runs comes from state/live.py: one `helm list` and one
Kubernetes list per kind for the whole namespace.

The verdicts and how they are reached: state/compare.py (one vocabulary, state/verdict.py, shared with
plan), plus orphan: a release of this tool whose service no longer exists in the monorepo.

Releases of this tool are recognised by the `tars-tasks.io/managed=true` label on helm's release record
(helm >= 4 sets it at install: core/helm.py), or, for releases made before that label or by helm 3, by their
TServer's `app.kubernetes.io/part-of: tars-tasks` label (helm-template/templates/_helpers.tpl).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tars_tasks.core.helm import MANAGED_LABEL, Helm
from tars_tasks.deploy.configs import RELEASE_LABEL
from tars_tasks.deploy.kube import Kube
from tars_tasks.project import Project
from tars_tasks.state.compare import ServiceState, compare, fill_live
from tars_tasks.state.desired import desired
from tars_tasks.state.live import Live, read_live
from tars_tasks.state.verdict import Verdict

IN_SYNC, OUT_OF_DATE, FAILED, PENDING = Verdict.IN_SYNC, Verdict.OUT_OF_DATE, Verdict.FAILED, Verdict.PENDING
DRIFTED, MISSING, ORPHAN = Verdict.DRIFTED, Verdict.MISSING, Verdict.ORPHAN
UNVERIFIED, UNHEALTHY = Verdict.UNVERIFIED, Verdict.UNHEALTHY
VERDICTS = tuple(Verdict)
PART_OF = "app.kubernetes.io/part-of"


@dataclass
class StatusReport:
    namespace: str
    services: list[ServiceState]
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.services:
            counts[s.verdict] = counts.get(s.verdict, 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "counts": self.counts(), "notes": self.notes,
                "services": [s.to_json() for s in self.services]}


def managed(live: Live, name: str) -> bool:
    """Was this release made by this tool? (the record label, else the TServer's part-of label)"""
    record = live.records.get(name)
    if record is not None and record.labels.get(MANAGED_LABEL) == "true":
        return True
    labels = ((live.tservers.get(name) or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(PART_OF) == "tars-tasks"


def orphans(project: Project, live: Live) -> list[ServiceState]:
    """Releases of this tool whose service no longer exists in the monorepo."""
    names = {s.name for s in project.services}
    out = []
    for name in sorted(set(live.releases) - names):
        if managed(live, name):
            labels = ((live.tservers.get(name) or {}).get("metadata") or {}).get("labels") or {}
            app, server = labels.get("tars.io/ServerApp", ""), labels.get("tars.io/ServerName", "")
            state = ServiceState(f"{app}.{server}" if app and server else "", name, ORPHAN)
            fill_live(state, live, name)
            state.details.append("its service is no longer in the monorepo (`invoke prune` removes it)")
            out.append(state)
    return out + config_orphans(names, live)


def config_orphans(names: set[str], live: Live) -> list[ServiceState]:
    """Config versions of this tool (labelled with their release, deploy/configs.py) whose service and helm
    release are both gone: a prune interrupted after the uninstall, before the framework's deletion guard let
    the configs go. They are orphans too (no chart, no revision), so that a rerun of prune removes them."""
    left: dict[str, list[dict[str, Any]]] = {}
    for obj in live.tconfigs.values():
        labels = (obj.get("metadata") or {}).get("labels") or {}
        release = str(labels.get(RELEASE_LABEL) or "")
        if labels.get(PART_OF) == "tars-tasks" and release and release not in live.releases and release not in names:
            left.setdefault(release, []).append(obj)
    out = []
    for release, objs in sorted(left.items()):
        app = next((str(o.get("app") or "") for o in objs), "")
        server = next((str(o.get("server")) for o in objs if o.get("server")), "")
        state = ServiceState(f"{app}.{server}" if app and server else "", release, ORPHAN)
        state.details.append(f"its service and helm release are gone, {len(objs)} TConfig version(s) are left "
                             "(`invoke prune` removes them)")
        out.append(state)
    return out


def status(project: Project, ids: list[str], namespace: str | None = None, helm: Helm | None = None,
           kube: Kube | None = None) -> StatusReport:
    """The status of the named services (default: all, plus orphans) in ``namespace`` (default tars.namespace)."""
    settings = project.settings
    ns = namespace or settings.namespace
    want = desired(project, ids, ns)
    live = read_live(helm or Helm.from_settings(settings), kube or Kube.from_settings(settings),
                     ns)
    states = compare(want, live)
    if not ids:
        states += orphans(project, live)
    return StatusReport(ns, states, live.notes)
