"""`status`: per service, what git would deploy against what runs, and a verdict.

What git would deploy is computed the way `plan` does (plan/make.py: select, then the artifacts and charts
of the selected services; no registry is asked). What runs comes from live.py: one `helm list` and one
Kubernetes list per kind for the whole namespace.

Verdicts, first match wins:
- missing: no helm release of the service in the namespace;
- pending: its release is pending-install/-upgrade/-rollback (a run in progress, or one that was killed);
- failed: helm's release failed, or its rollout was marked failed by tracking (deploy/rollout.py);
- out of date: it runs another chart version than git would deploy (the chart version digests the chart, the
  values and the image tag, so equal versions mean nothing to deploy);
- drifted: the live TServer differs from what this tool deployed (helm's stored values of the deployed
  revision): its release id or image was switched, or it was scaled away from the declared replicas, e.g. in
  the TARS web console; or a config's activated version is not the deployed one (deactivated versions are
  the framework's history, not drift). Deploys keep a scaled replica count while the declaration is unchanged
  (helm-template/templates/tserver.yaml), so drift is shown, not an error;
- in sync: none of the above;
- orphan: a release of this tool whose service no longer exists in the monorepo.

Releases of this tool are recognised by the `tars-tasks.io/managed=true` label on helm's release record
(helm >= 4 sets it at install: core/helm.py), or, for releases made before that label or by helm 3, by their
TServer's `app.kubernetes.io/part-of: tars-tasks` label (helm-template/templates/_helpers.tpl).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from tars_tasks.chart.config_names import rendered
from tars_tasks.core.files import FileLister
from tars_tasks.core.helm import MANAGED_LABEL, ROLLOUT_LABEL, Helm
from tars_tasks.core.services import Service
from tars_tasks.deploy.configs import RELEASE_LABEL
from tars_tasks.deploy.kube import Kube
from tars_tasks.deploy.track import pod_issue, pod_ready
from tars_tasks.operate.live import Live, read_live
from tars_tasks.plan.make import Draft, select
from tars_tasks.plan.model import Options
from tars_tasks.project import Project

IN_SYNC, OUT_OF_DATE, FAILED, PENDING = "in sync", "out of date", "failed", "pending"
DRIFTED, MISSING, ORPHAN = "drifted", "missing", "orphan"
VERDICTS = (IN_SYNC, OUT_OF_DATE, FAILED, PENDING, DRIFTED, MISSING, ORPHAN)
PART_OF = "app.kubernetes.io/part-of"


@dataclass
class ServiceState:
    id: str  # App.Server ("" for an orphan whose service is gone; see release)
    release: str
    verdict: str
    details: list[str] = field(default_factory=list)
    wanted_chart: str = ""  # <name>-<version> git would deploy
    wanted_image: str = ""
    revision: int = 0
    helm_status: str = ""
    chart: str = ""  # <name>-<version> helm runs
    image: str = ""  # live TServer spec.release.image
    release_id: str = ""  # live TServer spec.release.id
    replicas_declared: int | None = None
    replicas_live: int | None = None
    pods_ready: int = 0
    pods_desired: int = 0
    worst_pod: str = ""  # the worst pod state, "" when every pod is ready

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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


def wanted(project: Project, ids: list[str], namespace: str) -> Draft:
    """What git would deploy for the named services (default: all): plan's own first steps."""
    draft = Draft(project, Options(ids=ids, namespace=namespace), namespace, FileLister(project.settings.root))
    select(draft)
    draft.add_artifacts(draft.selected)
    return draft


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _spec(obj: dict[str, Any] | None) -> dict[str, Any]:
    return (obj or {}).get("spec") or {}


def fill_live(state: ServiceState, live: Live, name: str) -> None:
    """The live columns of one release: helm's entry, its TServer, its workload and its pods."""
    entry = live.releases.get(name) or {}
    state.revision = _int(entry.get("revision")) or 0
    state.helm_status = str(entry.get("status") or "")
    state.chart = str(entry.get("chart") or "")
    tserver = live.tservers.get(name)
    k8s, rel = _spec(tserver).get("k8s") or {}, _spec(tserver).get("release") or {}
    state.image, state.release_id = str(rel.get("image") or ""), str(rel.get("id") or "")
    daemon = bool(k8s.get("daemonSet"))
    record = live.records.get(name)
    if tserver is not None and not daemon:
        state.replicas_live = _int(k8s.get("replicas"))
        declared = (record.values.get("replicas", 1) if record is not None else
                    ((tserver.get("metadata") or {}).get("annotations") or {}).get("tars-tasks.io/declared-replicas"))
        state.replicas_declared = _int(declared)
    workload = live.workloads.get(name)
    pods = live.pods.get(name, [])
    if workload is not None:
        ws = workload.get("status") or {}
        state.pods_desired = (_int(ws.get("desiredNumberScheduled")) or 0) if daemon else (
            _int(_spec(workload).get("replicas")) or 0)
    state.pods_ready = sum(1 for p in pods if pod_ready(p))
    issues = [pod_issue(p, name) for p in pods if not pod_ready(p)]
    worst = next((i for i in issues if i.terminal), issues[0] if issues else None)
    state.worst_pod = worst.reason if worst else ""


def drift(state: ServiceState, live: Live, name: str) -> list[str]:
    """How the live TServer differs from what this tool deployed (helm's values of the deployed revision)."""
    record, tserver = live.records.get(name), live.tservers.get(name)
    if record is None or record.status != "deployed":
        return []
    if tserver is None:
        return [f"TServer {name} is gone from the cluster (deleted outside helm)"]
    repo = record.values.get("repo") or {}
    out = []
    if repo.get("id") is not None and str(repo["id"]) != state.release_id:
        out.append(f"release id {state.release_id or '(none)'} in the cluster, {repo['id']} deployed by tars-tasks")
    if repo.get("image") and repo["image"] != state.image:
        out.append(f"image {state.image or '(none)'} in the cluster, {repo['image']} deployed by tars-tasks")
    if state.replicas_live is not None and state.replicas_declared is not None \
            and state.replicas_live != state.replicas_declared:
        out.append(f"replicas {state.replicas_live} live, {state.replicas_declared} declared")
    return out + config_drift(live, name, record.values)


def config_drift(live: Live, name: str, values: dict[str, Any]) -> list[str]:
    """The configs of the deployed revision whose version is not the activated one (someone activated another
    version, e.g. in the TARS web console, or it was deleted). Deactivated versions are history, not drift."""
    out = []
    for wanted in rendered(values, name, live.namespace):
        found = live.tconfigs.get(wanted["metadata"]["name"])
        what = f"config {wanted['configName']}" + (f" (pod {wanted['podSeq']})" if wanted["podSeq"] != "m" else "")
        if found is None:
            out.append(f"{what}: its deployed version {wanted['metadata']['name']} is gone from the cluster")
        elif not found.get("activated"):
            out.append(f"{what}: another version is activated in the cluster than the deployed "
                       f"{wanted['metadata']['name']}")
    return out


def judge_service(service: Service, draft: Draft, live: Live) -> ServiceState:
    name = service.name
    state = ServiceState(service.id, name, IN_SYNC, wanted_chart=draft.chart_ref(service),
                         wanted_image=draft.artifacts[service.id].ref)
    entry = live.releases.get(name)
    if entry is None:
        state.verdict = MISSING
        state.details.append(f"not deployed in namespace {live.namespace}")
        return state
    fill_live(state, live, name)
    record = live.records.get(name)
    failed_rollout = record is not None and record.revision == state.revision and \
        record.labels.get(ROLLOUT_LABEL) == "failed"
    drifted = drift(state, live, name)
    if state.helm_status.startswith("pending"):
        state.verdict = PENDING
        state.details.append(f"helm release {name} is {state.helm_status} since {entry.get('updated', '?')}: "
                             "a run is deploying it, or one was stopped")
    elif state.helm_status == "failed" or failed_rollout:
        state.verdict = FAILED
        what = "its rollout failed" if failed_rollout else "helm failed"
        state.details.append(f"revision {state.revision}: {what}")
    elif state.chart != state.wanted_chart:
        state.verdict = OUT_OF_DATE
        state.details.append(f"cluster runs {state.chart}, git would deploy {state.wanted_chart}")
    elif drifted:
        state.verdict = DRIFTED
    state.details += drifted
    if state.worst_pod:
        state.details.append(f"pods ready {state.pods_ready}/{state.pods_desired}: {state.worst_pod}")
    return state


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
    draft = wanted(project, ids, ns)
    live = read_live(helm or Helm.from_settings(settings), kube or Kube.from_settings(settings),
                     ns)
    states = [judge_service(s, draft, live) for s in sorted(draft.selected, key=lambda s: s.id)]
    if not ids:
        states += orphans(project, live)
    return StatusReport(ns, states, live.notes)
