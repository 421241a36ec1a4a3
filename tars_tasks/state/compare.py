"""The one comparison: ``compare(desired, live)`` gives each service a verdict (state/verdict.py, first match
wins) and names each object of the chart that differs:

- missing: no helm release of the service in the namespace;
- pending: its release is pending-install/-upgrade/-rollback (a run in progress, or one that was killed);
- failed: helm's release failed, or tracking proved its current revision failed (state/verification.py);
- out of date: it runs another chart version than git would deploy (the chart version digests the chart, the
  values and the image tag, so equal versions mean nothing to deploy);
- drifted: an object the chart made is gone (deleted by hand: a release recreates it), or the live TServer
  differs from what this tool deployed (helm's stored values of the deployed revision): its release id or
  image was switched, or it was scaled away from the declared replicas, e.g. in the TARS web console (kept,
  unless --repair / tars.drift: repair);
- unverified: its current revision was never tracked to a verdict (interrupted, the cluster lost, --no-wait);
- unhealthy: none of the above, yet its pods are not all Ready (crash-looping, not active);
- in sync: none of the above.

plan reads the same records and objects (without pods) through missing_objects, person_edits and the
verification marks; status prints the comparison, diff renders it."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from tars_tasks.chart.config_names import rendered
from tars_tasks.core.services import Service
from tars_tasks.deploy.canary import CANARY_ANNOTATION, paused_message, read_pause
from tars_tasks.deploy.track import pod_issue, pod_ready
from tars_tasks.operate.records import Record
from tars_tasks.state.live import Cluster, Live
from tars_tasks.state.verdict import Verdict
from tars_tasks.state.verification import Verification, of_revision

if TYPE_CHECKING:  # desired.py builds on plan/make.py, which compares with missing_objects/person_edits
    from tars_tasks.state.desired import Desired

IN_SYNC, OUT_OF_DATE, FAILED, PENDING = Verdict.IN_SYNC, Verdict.OUT_OF_DATE, Verdict.FAILED, Verdict.PENDING
DRIFTED, MISSING, UNVERIFIED, UNHEALTHY = Verdict.DRIFTED, Verdict.MISSING, Verdict.UNVERIFIED, Verdict.UNHEALTHY
UNKNOWN = Verdict.UNKNOWN

OWNED_KINDS = ("TServer", "TConfig", "TImage")  # what the chart makes and the Live reader lists


@dataclass(frozen=True)
class ObjectState:
    """One object the chart owns that differs in the cluster: gone (deleted by hand) or changed by a person."""

    object: str  # Kind/name
    verdict: Verdict  # MISSING (a release recreates it) or DRIFTED (changed by hand; kept unless --repair)
    detail: str


@dataclass
class ServiceState:
    id: str  # App.Server ("" for an orphan whose service is gone; see release)
    release: str
    verdict: Verdict
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
    objects: list[ObjectState] = field(default_factory=list)  # the chart's objects that differ, each named

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def manifest_objects(manifest: str) -> dict[str, dict[str, Any]]:
    """"Kind/name" -> object, for every object of a multi-document manifest."""
    out: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(manifest or ""):
        if isinstance(doc, dict) and doc.get("kind"):
            out[f"{doc['kind']}/{(doc.get('metadata') or {}).get('name', '')}"] = doc
    return out


def missing_objects(record: Record | None, live: Live) -> list[str]:
    """"Kind/name" of every object the deployed revision made that the cluster no longer has (deleted by hand),
    [] when the record or the cluster's objects are unknown."""
    if record is None or live.cluster is not Cluster.REACHABLE:
        return []
    out = []
    for key, obj in sorted(manifest_objects(record.manifest).items()):
        have = live.objects(str(obj.get("kind")))
        if have is not None and key.split("/", 1)[1] not in have:
            out.append(key)
    return out


def person_edits(record: Record | None, tserver: dict[str, Any] | None) -> list[str]:
    """How the live TServer differs from what this tool deployed (helm's values of the deployed revision) in what
    people change from the TARS web console: the release it runs (id, image) and its replicas."""
    if record is None or record.status != "deployed" or tserver is None:
        return []
    spec = tserver.get("spec") or {}
    k8s, release = spec.get("k8s") or {}, spec.get("release") or {}
    repo = record.values.get("repo") or {}
    out = []
    live_id, live_image = str(release.get("id") or ""), str(release.get("image") or "")
    if repo.get("id") is not None and str(repo["id"]) != live_id:
        out.append(f"release id {live_id or '(none)'} in the cluster, {repo['id']} deployed by tars-tasks")
    if repo.get("image") and repo["image"] != live_image:
        out.append(f"image {live_image or '(none)'} in the cluster, {repo['image']} deployed by tars-tasks")
    declared, live = _int(record.values.get("replicas", 1)), _int(k8s.get("replicas"))
    if not k8s.get("daemonSet") and live is not None and declared is not None and live != declared:
        out.append(f"replicas {live} live, {declared} declared")
    return out


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


def config_objects(record: Record | None, live: Live) -> list[ObjectState]:
    """The configs of the deployed revision whose version is not the activated one: gone (deleted by hand: a
    release creates it again, deploy/configs.py) or another version activated (e.g. in the TARS web console: a
    person's edit). TConfig versions live apart from helm's release (chart/config_names.py renders the names from
    the revision's values); deactivated versions are the framework's history, not drift."""
    if record is None or record.status != "deployed" or live.cluster is not Cluster.REACHABLE:
        return []
    out = []
    for wanted in rendered(record.values, record.name, live.namespace):
        name = wanted["metadata"]["name"]
        found = live.tconfigs.get(name)
        what = f"config {wanted['configName']}" + (f" (pod {wanted['podSeq']})" if wanted["podSeq"] != "m" else "")
        if found is None:
            gone = f"{what}: its deployed version is gone from the cluster (deleted outside helm): a release " \
                   "recreates it"
            out.append(ObjectState(f"TConfig/{name}", MISSING, gone))
        elif not found.get("activated"):
            other = f"{what}: another version is activated in the cluster than the deployed one"
            out.append(ObjectState(f"TConfig/{name}", DRIFTED, other))
    return out


def drift(state: ServiceState, live: Live, name: str) -> list[str]:
    """How the chart's objects in the cluster differ from what this tool deployed (the deployed revision's
    record): each one also named in ``state.objects``."""
    record, tserver = live.records.get(name), live.tservers.get(name)
    if record is None or record.status != "deployed":
        return []
    for key in missing_objects(record, live):
        state.objects.append(ObjectState(key, MISSING, f"{key} is gone from the cluster (deleted outside helm): a "
                                                       "release recreates it"))
    for edit in person_edits(record, tserver):
        state.objects.append(ObjectState(f"TServer/{name}", DRIFTED, edit))
    state.objects.extend(config_objects(record, live))
    return [o.detail for o in state.objects]


def judge_service(service: Service, want: Desired, live: Live) -> ServiceState:
    name = service.name
    state = ServiceState(service.id, name, IN_SYNC, wanted_chart=want.chart_ref(service),
                         wanted_image=want.artifacts[service.id].ref)
    entry = live.releases.get(name)
    if entry is None:
        state.verdict = MISSING
        state.details.append(f"not deployed in namespace {live.namespace}")
        return state
    fill_live(state, live, name)
    record = live.records.get(name)
    verification = of_revision(record.labels, state.revision) if record is not None and \
        record.revision == state.revision else Verification.UNVERIFIED
    drifted = drift(state, live, name)
    tserver = live.tservers.get(name) or {}
    paused = read_pause(((tserver.get("metadata") or {}).get("annotations") or {}).get(CANARY_ANNOTATION))
    if state.helm_status.startswith("pending"):
        state.verdict = PENDING
        state.details.append(f"helm release {name} is {state.helm_status} since {entry.get('updated', '?')}: "
                             "a run is deploying it, or one was stopped")
    elif paused is not None:
        state.verdict = Verdict.CANARY
        state.details.append(paused_message(service.id, paused))
    elif state.helm_status == "failed" or verification is Verification.FAILED:
        state.verdict = FAILED
        what = "helm failed" if state.helm_status == "failed" else "its rollout failed"
        state.details.append(f"revision {state.revision}: {what}")
    elif state.chart != state.wanted_chart:
        state.verdict = OUT_OF_DATE
        state.details.append(f"cluster runs {state.chart}, git would deploy {state.wanted_chart}")
    elif live.cluster is Cluster.UNREACHABLE:  # after retries: never "in sync" on lists that were not read
        state.verdict = UNKNOWN
        state.details.append("the cluster's objects could not be read: its TServer, workload and pods are unknown")
    elif drifted:
        state.verdict = DRIFTED
    elif verification is Verification.UNVERIFIED:
        state.verdict = UNVERIFIED
        state.details.append(f"revision {state.revision} was never tracked to Ready (interrupted, the cluster was "
                             "lost, or --no-wait): the next release tracks it")
    elif state.worst_pod or state.pods_ready < state.pods_desired:
        state.verdict = UNHEALTHY
    state.details += drifted
    if state.worst_pod or state.pods_ready < state.pods_desired:
        state.details.append(f"pods ready {state.pods_ready}/{state.pods_desired}"
                             + (f": {state.worst_pod}" if state.worst_pod else ""))
    return state


def compare(want: Desired, live: Live) -> list[ServiceState]:
    """The verdict of every desired service against what the namespace runs, in id order."""
    return [judge_service(service, want, live) for service in want.services]
