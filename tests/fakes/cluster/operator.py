"""A simulation of K8SFramework's operator and of the workload controllers, scheduler and kubelet under it.

Every tick it: turns each TServer into a StatefulSet (or a DaemonSet when spec.k8s.daemonSet) after the
outcome's reconcile delay; rolls the pods of each workload to its pod template (StatefulSet: highest
ordinal first, one at a time, each after the updated ones are Ready; DaemonSet: one pod per node, an unready old
pod at once, a ready one only when all are Ready); moves each pod along its outcome; writes the workloads'
and TServers' status; deletes what lost its controlling owner.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from . import kubelet
from .kubelet import Outcome, PodSim, rfc3339
from .record import PodTransition, Record, ServerTransition
from .resources import by_kind
from .store import ApiError, Change, Store
from .ticker import Ticker

POD, STS, DS, TSERVER, EVENT = (by_kind(k) for k in ("Pod", "StatefulSet", "DaemonSet", "TServer", "Event"))
APP_LABEL, SERVER_LABEL, RELEASE_LABEL = "tars.io/ServerApp", "tars.io/ServerName", "tars.io/ReleaseID"
REVISION_LABEL = "controller-revision-hash"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def revision(template: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def env_keys(env: Any) -> list[str]:
    """The outcome keys of a container's env: "env:NAME=VALUE" for each plain value (a per-revision outcome: a
    change that keeps the image still makes pods that behave differently)."""
    return [f"env:{e.get('name')}={e.get('value')}" for e in env or [] if isinstance(e, dict) and "value" in e]


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def unready_reason(status: dict[str, Any], stage: str) -> str:
    """Why a pod is not Ready: a container's waiting reason, else a false condition's reason, else its stage."""
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if waiting:
            return waiting.get("reason", "")
    return next((c["reason"] for c in status.get("conditions") or []
                 if c.get("status") == "False" and c.get("reason")), stage)


def _owner_ref(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
             "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]


def _omit_zero(status: dict[str, Any], *keys: str) -> dict[str, Any]:
    """Like Go's omitempty: real status objects leave zero counts out."""
    return {k: v for k, v in status.items() if not (k in keys and not v)}


@dataclass
class ServerState:
    """What the operator knows of one TServer."""

    uid: str
    spec: str
    due: float | None
    image: str
    release_id: str
    ready: bool = False


def tserver_workload(ts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The workload kind ("StatefulSet"/"DaemonSet") and body the operator makes for a TServer."""
    spec, meta = ts.get("spec") or {}, ts["metadata"]
    k8s, release = spec.get("k8s") or {}, spec.get("release") or {}
    name = meta["name"]
    labels = {APP_LABEL: str(spec.get("app", "")), SERVER_LABEL: str(spec.get("server", ""))}
    container: dict[str, Any] = {"name": name, "image": str(release.get("image", "")),
                                 "imagePullPolicy": k8s.get("imagePullPolicy", "Always")}
    for field in ("env", "envFrom", "resources", "command", "args"):
        if k8s.get(field):
            container[field] = k8s[field]
    release_id = str(release.get("id", ""))
    template = {
        "metadata": {"labels": {**labels, RELEASE_LABEL: release_id}, "annotations": {RELEASE_LABEL: release_id}},
        "spec": {"containers": [container], "readinessGates": [{"conditionType": kubelet.ACTIVE_GATE}],
                 "hostNetwork": bool(k8s.get("hostNetwork")), "hostIPC": bool(k8s.get("hostIPC")),
                 "restartPolicy": "Always"}}
    selector = {"matchLabels": labels}
    if k8s.get("daemonSet"):
        body = {"selector": selector, "template": template,
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}}
    else:
        body = {"replicas": int(k8s.get("replicas", 1)), "selector": selector, "serviceName": name,
                "podManagementPolicy": k8s.get("podManagementPolicy") or "Parallel", "template": template,
                "updateStrategy": k8s.get("updateStrategy") or {"type": "RollingUpdate",
                                                                "rollingUpdate": {"partition": 0}}}
    kind = "DaemonSet" if k8s.get("daemonSet") else "StatefulSet"
    return kind, {"apiVersion": "apps/v1", "kind": kind,
                  "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                               "ownerReferences": _owner_ref(ts)},
                  "spec": body}


class Operator(Ticker):
    """The background thread that plays operator, controllers, scheduler and kubelet."""

    def __init__(self, store: Store, record: Record, nodes: tuple[str, ...], tick: float = 0.02):
        super().__init__(tick, "fake-operator")
        self.store, self.record, self.nodes = store, record, nodes
        self.outcomes: dict[str, Outcome] = {}
        self.default = Outcome()
        self.pods: dict[str, PodSim] = {}
        self.servers: dict[tuple[str, str], ServerState] = {}
        # every pod template a StatefulSet had, by (namespace, revision): what its ControllerRevisions keep, so
        # that a pod below the partition is recreated at the current revision, not the update one
        self.templates: dict[tuple[str, str], dict[str, Any]] = {}
        self._names = itertools.count()
        self._settled_rv: int | None = None  # the store's resourceVersion after a tick that changed nothing
        store.listeners.append(self._on_change)

    # --- lifecycle -----------------------------------------------------------------------------------------

    def outcome_for(self, *keys: str) -> Outcome:
        """The first outcome set for any of ``keys`` (release id, image, namespace/name, name), else the default."""
        return next((self.outcomes[k] for k in keys if k and k in self.outcomes), self.default)

    def tick(self) -> None:
        now = time.monotonic()
        if self._settled_rv == self.store.rv and now < self._next_due():
            return  # a tick now would write nothing: nothing changed since one that wrote nothing, and nothing is due
        before = self.store.rv
        self._reconcile_tservers(now)
        self._collect_garbage()
        for sts in self.store.list(STS)[0]:
            self._sync_statefulset(sts, now)
        for ds in self.store.list(DS)[0]:
            self._sync_daemonset(ds, now)
        self._advance_pods(now)
        self._write_workload_status()
        self._write_tserver_status(now)
        self._settled_rv = before if self.store.rv == before else None

    def _next_due(self) -> float:
        """When time alone next changes what a tick writes: a server's reconcile delay ends, or a pod enters its
        next stage. A crashing pod restarts for ever: always due. Idle clusters cost (almost) no CPU this way;
        a full tick deep-copies every object, which with the sample deployed took a third of a core."""
        due = [s.due for s in list(self.servers.values()) if s.due is not None]
        for sim in list(self.pods.values()):
            if sim.outcome.kind == kubelet.CRASHLOOP:
                return 0.0
            names = [name for _, name in kubelet.stages(sim.outcome)]
            if sim.stage not in names:
                return 0.0
            due += [sim.created + start for start, _ in kubelet.stages(sim.outcome)[names.index(sim.stage) + 1:]]
        return min(due, default=float("inf"))

    # --- TServer -> workload -------------------------------------------------------------------------------

    def _reconcile_tservers(self, now: float) -> None:
        seen = set()
        for ts in self.store.list(TSERVER)[0]:
            meta = ts["metadata"]
            key = (meta["namespace"], meta["name"])
            seen.add(key)
            spec = json.dumps(ts.get("spec") or {}, sort_keys=True)
            state = self.servers.get(key)
            if state is None or state.uid != meta["uid"] or state.spec != spec:
                release = (ts.get("spec") or {}).get("release") or {}
                image, release_id = str(release.get("image", "")), str(release.get("id", ""))
                env = ((ts.get("spec") or {}).get("k8s") or {}).get("env")
                outcome = self.outcome_for(*env_keys(env), release_id, image, f"{key[0]}/{key[1]}", key[1])
                if state is not None and state.ready:
                    self._server_transition(key, state, False)
                state = self.servers[key] = ServerState(meta["uid"], spec, now + outcome.reconcile_delay,
                                                        image, release_id)
            if state.due is not None and now >= state.due:
                self._write_workload(ts)
                state.due = None
        for key in set(self.servers) - seen:
            if self.servers[key].ready:
                self._server_transition(key, self.servers[key], False)
            del self.servers[key]

    def _write_workload(self, ts: dict[str, Any]) -> None:
        kind, body = tserver_workload(ts)
        ns, name = ts["metadata"]["namespace"], ts["metadata"]["name"]
        resource, other = (DS, STS) if kind == "DaemonSet" else (STS, DS)

        def rewrite(live: dict[str, Any]) -> None:
            live["spec"] = body["spec"]
            live["metadata"]["labels"] = body["metadata"]["labels"]
            live["metadata"]["ownerReferences"] = body["metadata"]["ownerReferences"]
        if self.store.mutate(resource, ns, name, rewrite) is None:
            self.store.create(resource, ns, body)
        stale = self.store.find(other, ns, name)
        if stale and owned_by(stale, ts["metadata"]["uid"]):
            self._delete(other, ns, name)

    # --- workloads -> pods ---------------------------------------------------------------------------------

    def _owned_pods(self, workload: dict[str, Any]) -> list[dict[str, Any]]:
        ns = workload["metadata"]["namespace"]
        uid = workload["metadata"]["uid"]
        return self.store.list(POD, ns, lambda p: owned_by(p, uid))[0]  # filter before copying: 200 servers

    def _sync_statefulset(self, sts: dict[str, Any], now: float) -> None:
        spec, name, ns = sts.get("spec") or {}, sts["metadata"]["name"], sts["metadata"]["namespace"]
        if not spec.get("template"):
            return
        rev = f"{name}-{revision(spec['template'])}"
        self.templates[(ns, rev)] = spec["template"]
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type") != "OnDelete"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0
        current = (sts.get("status") or {}).get("currentRevision") or rev
        replicas = int(spec.get("replicas", 1))
        pods = {int(p["metadata"]["name"].rsplit("-", 1)[1]): p for p in self._owned_pods(sts)
                if p["metadata"]["name"].rsplit("-", 1)[-1].isdigit()}
        for ordinal in sorted((o for o in pods if o >= replicas), reverse=True):
            self._delete_pod(sts, pods.pop(ordinal))
        ordered = spec.get("podManagementPolicy") == "OrderedReady"
        for ordinal in range(replicas):
            if ordinal in pods:
                continue
            if ordered and not all(is_ready(pods[o]) for o in range(ordinal) if o in pods):
                break
            # as newVersionedStatefulSetPod: below a RollingUpdate partition a pod is made at the current revision
            at = current if rolling and ordinal < partition and (ns, current) in self.templates else rev
            pods[ordinal] = self._create_pod(sts, f"{name}-{ordinal}", at, self.nodes[ordinal % len(self.nodes)],
                                             now, self.templates[(ns, at)])
        if not rolling or len(pods) < replicas:
            return  # OnDelete: a pod moves to the update revision only when someone deletes it
        # as the StatefulSet controller does: the highest ordinal not at the update revision is replaced; an
        # updated pod that is not Ready stops the rollout there (OrderedReady: any pod that is not Ready does),
        # so a fix replaces crash-looping old pods while a broken revision stalls after its first pod
        for ordinal in sorted((o for o in pods if o >= partition), reverse=True):
            if pods[ordinal]["metadata"]["labels"].get(REVISION_LABEL) != rev:
                if not ordered or all(is_ready(p) for o, p in pods.items() if o != ordinal):
                    node = self.nodes[ordinal % len(self.nodes)]
                    self._delete_pod(sts, pods[ordinal])
                    self._create_pod(sts, f"{name}-{ordinal}", rev, node, now)
                return
            if not is_ready(pods[ordinal]):
                return

    def _sync_daemonset(self, ds: dict[str, Any], now: float) -> None:
        spec, name = ds.get("spec") or {}, ds["metadata"]["name"]
        if not spec.get("template"):
            return
        rev = revision(spec["template"])
        by_node: dict[str, dict[str, Any]] = {}
        for pod in self._owned_pods(ds):
            sim = self.pods.get(pod["metadata"]["uid"])
            node = sim.node if sim else pod["spec"].get("nodeName", "")
            if node not in self.nodes or node in by_node:
                self._delete_pod(ds, pod)
            else:
                by_node[node] = pod
        for node in self.nodes:
            if node not in by_node:
                by_node[node] = self._create_pod(ds, self._pod_name(name, node), rev, node, now)
        old = [(n, p) for n, p in by_node.items() if p["metadata"]["labels"].get(REVISION_LABEL) != rev]
        unready_old = [(n, p) for n, p in old if not is_ready(p)]
        replace = unready_old or (old[:1] if all(is_ready(p) for p in by_node.values()) else [])
        for node, pod in replace:
            self._delete_pod(ds, pod)
            self._create_pod(ds, self._pod_name(name, node), rev, node, now)

    def _pod_name(self, owner: str, node: str) -> str:
        digest = hashlib.sha256(f"{owner}/{node}/{next(self._names)}".encode()).digest()
        return f"{owner}-" + "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:5])

    def _create_pod(self, owner: dict[str, Any], name: str, rev: str, node: str, now: float,
                    template: dict[str, Any] | None = None) -> dict[str, Any]:
        """A pod of ``owner`` from ``template`` (default: the owner's own, i.e. its update revision)."""
        template, ns = template or owner["spec"]["template"], owner["metadata"]["namespace"]
        labels = {**(template.get("metadata") or {}).get("labels", {}), REVISION_LABEL: rev}
        if owner["kind"] == "StatefulSet":
            labels["statefulset.kubernetes.io/pod-name"] = name
        else:  # what the DaemonSet controller stamps on its pods: the template generation they were made from
            labels["pod-template-generation"] = str(owner["metadata"].get("generation", 1))
        spec = json.loads(json.dumps(template.get("spec") or {}))
        containers = spec.get("containers") or [{}]
        image = str(containers[0].get("image", ""))
        outcome = self.outcome_for(f"pod:{name}", *env_keys(containers[0].get("env")), labels.get(RELEASE_LABEL, ""),
                                   image,
                                   f"{ns}/{owner['metadata']['name']}", owner["metadata"]["name"])
        if outcome.kind != kubelet.UNSCHEDULABLE:
            spec["nodeName"] = node
        pod = self.store.create(POD, ns, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": (template.get("metadata") or {}).get("annotations", {}),
                         "ownerReferences": _owner_ref(owner)},
            "spec": spec, "status": {"phase": "Pending", "qosClass": "BestEffort"}})
        self.pods[pod["metadata"]["uid"]] = PodSim(ns, name, owner["metadata"]["name"], str(containers[0].get(
            "name", "")), image, node, outcome, now)
        verb = f"create Pod {name} in StatefulSet {owner['metadata']['name']} successful" \
            if owner["kind"] == "StatefulSet" else f"Created pod: {name}"
        self._event(owner, "Normal", "SuccessfulCreate", verb, f"{owner['kind'].lower()}-controller")
        return pod

    def _delete_pod(self, owner: dict[str, Any], pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        self._delete(POD, pod["metadata"]["namespace"], name)
        verb = f"delete Pod {name} in StatefulSet {owner['metadata']['name']} successful" \
            if owner["kind"] == "StatefulSet" else f"Deleted pod: {name}"
        self._event(owner, "Normal", "SuccessfulDelete", verb, f"{owner['kind'].lower()}-controller")

    def _delete(self, resource: Any, ns: str, name: str) -> None:
        with contextlib.suppress(ApiError):  # someone else was faster
            self.store.delete(resource, ns, name)

    # --- pods ----------------------------------------------------------------------------------------------

    def _adopt(self, pod: dict[str, Any], now: float) -> PodSim:
        """A pod the operator did not make (a client created it): simulate it by its image's outcome."""
        meta, spec = pod["metadata"], pod.get("spec") or {}
        container = (spec.get("containers") or [{}])[0]
        image = str(container.get("image", ""))
        outcome = self.outcome_for(*env_keys(container.get("env")), (meta.get("labels") or {}).get(RELEASE_LABEL, ""),
                                   image,
                                   f"{meta['namespace']}/{meta['name']}", meta["name"])
        sim = PodSim(meta["namespace"], meta["name"], "", str(container.get("name", "")), image,
                     spec.get("nodeName") or self.nodes[0], outcome, now)
        self.pods[meta["uid"]] = sim
        return sim

    def _advance_pods(self, now: float) -> None:
        for pod in self.store.list(POD)[0]:
            meta = pod["metadata"]
            sim = self.pods.get(meta["uid"]) or self._adopt(pod, now)
            for current in kubelet.entered(sim, now):
                sim.stage, sim.stage_since = current, rfc3339()
                for e in kubelet.events(sim, current, len(self.nodes)):
                    self._event(pod, e.type, e.reason, e.message, e.component, sim.node)
            current = sim.stage
            status = kubelet.pod_status(pod, sim, current, now, len(self.nodes))
            written = self.store.mutate(POD, meta["namespace"], meta["name"],
                                        lambda live, s=status: live.update(status=s), "status")
            ready = is_ready(written) if written else False
            if written is not None and ready != sim.ready:
                sim.ready = ready
                reason = "" if ready else unready_reason(status, current)
                self.record.add(PodTransition(time.monotonic(), sim.namespace, sim.name, sim.owner, ready,
                                              status["phase"], reason, sim.image))

    def _on_change(self, change: Change) -> None:
        """A store listener: log a pod's deletion the moment it happens."""
        if change.type != "DELETED" or change.key[:2] != ("", "pods"):
            return
        sim = self.pods.pop(change.object["metadata"].get("uid", ""), None)
        if sim is not None:
            self.record.add(PodTransition(change.time, sim.namespace, sim.name, sim.owner, False,
                                          (change.object.get("status") or {}).get("phase", ""), "Deleted",
                                          sim.image, deleted=True))

    def pod_log(self, namespace: str, name: str, query: dict[str, str]) -> str:
        pod = self.store.get(POD, namespace, name)
        sim = self.pods.get(pod["metadata"]["uid"])
        if sim is None:
            raise ApiError.bad_request(f'container in pod "{name}" is waiting to start: ContainerCreating')
        lines = kubelet.log_lines(sim, kubelet.stage(sim, time.monotonic()))
        if isinstance(lines, str):
            raise ApiError.bad_request(lines)
        if query.get("tailLines"):
            lines = lines[-int(query["tailLines"]):] if int(query["tailLines"]) else []
        if query.get("timestamps") == "true":
            lines = [f"{sim.stage_since.replace('Z', '.000000000Z')} {line}" for line in lines]
        return "".join(line + "\n" for line in lines)

    def _event(self, about: dict[str, Any], kind: str, reason: str, message: str, component: str,
               host: str = "") -> None:
        meta = about["metadata"]
        stamp = rfc3339()
        self.store.create(EVENT, meta["namespace"], {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": about.get("apiVersion", ""), "kind": about.get("kind", ""),
                               "namespace": meta["namespace"], "name": meta["name"], "uid": meta.get("uid", ""),
                               "resourceVersion": meta.get("resourceVersion", "")},
            "reason": reason, "message": message, "type": kind, "count": 1,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "eventTime": None,
            "source": {"component": component, **({"host": host} if host else {})},
            "reportingComponent": component, "reportingInstance": host})

    # --- status --------------------------------------------------------------------------------------------

    def _write_workload_status(self) -> None:
        for sts in self.store.list(STS)[0]:
            self._write_status(STS, sts, self._statefulset_status(sts))
        for ds in self.store.list(DS)[0]:
            self._write_status(DS, ds, self._daemonset_status(ds))

    def _write_status(self, resource: Any, obj: dict[str, Any], status: dict[str, Any]) -> None:
        meta = obj["metadata"]
        self.store.mutate(resource, meta["namespace"], meta["name"], lambda live: live.update(status=status),
                          "status")

    def _statefulset_status(self, sts: dict[str, Any]) -> dict[str, Any]:
        spec, name = sts.get("spec") or {}, sts["metadata"]["name"]
        rev = f"{name}-{revision(spec.get('template') or {})}"
        pods = self._owned_pods(sts)
        replicas = int(spec.get("replicas", 1))
        revisions = [p["metadata"]["labels"].get(REVISION_LABEL) for p in pods]
        updated = revisions.count(rev)
        current_rev = (sts.get("status") or {}).get("currentRevision") or rev
        if updated == replicas == len(pods):
            current_rev = rev
        ready = sum(map(is_ready, pods))
        return _omit_zero({"observedGeneration": sts["metadata"]["generation"], "replicas": len(pods),
                           "readyReplicas": ready, "currentReplicas": revisions.count(current_rev),
                           "updatedReplicas": updated, "availableReplicas": ready,
                           "currentRevision": current_rev, "updateRevision": rev, "collisionCount": 0},
                          "readyReplicas", "currentReplicas", "updatedReplicas", "collisionCount")

    def _daemonset_status(self, ds: dict[str, Any]) -> dict[str, Any]:
        rev = revision((ds.get("spec") or {}).get("template") or {})
        pods = self._owned_pods(ds)
        scheduled = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
        ready = sum(map(is_ready, pods))
        updated = sum(p["metadata"]["labels"].get(REVISION_LABEL) == rev for p in pods)
        desired = len(self.nodes)
        return _omit_zero({"currentNumberScheduled": len(scheduled), "desiredNumberScheduled": desired,
                           "numberMisscheduled": 0, "numberReady": ready, "observedGeneration":
                           ds["metadata"]["generation"], "updatedNumberScheduled": updated,
                           "numberAvailable": ready, "numberUnavailable": desired - ready},
                          "updatedNumberScheduled", "numberAvailable", "numberUnavailable")

    def _write_tserver_status(self, now: float) -> None:
        for ts in self.store.list(TSERVER)[0]:
            meta = ts["metadata"]
            key = (meta["namespace"], meta["name"])
            workload, resource = self._workload_of(ts)
            if workload is None:
                continue
            status = workload.get("status") or {}
            spec = ts.get("spec") or {}
            selector = f"{APP_LABEL}={spec.get('app', '')},{SERVER_LABEL}={spec.get('server', '')}"
            if resource is DS:
                replicas, ready_count, current = (status.get("desiredNumberScheduled", 0), status.get("numberReady", 0),
                                                  status.get("updatedNumberScheduled", 0))
            else:
                replicas, ready_count, current = (status.get("replicas", 0), status.get("readyReplicas", 0),
                                                  status.get("currentReplicas", 0))
            self._write_status(TSERVER, ts, {"replicas": replicas, "readyReplicas": ready_count,
                                             "currentReplicas": current, "selector": selector})
            state = self.servers.get(key)
            if state is not None:
                ready = state.due is None and self._rolled_out(workload, resource)
                if ready != state.ready:
                    self._server_transition(key, state, ready)

    def _workload_of(self, ts: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        meta = ts["metadata"]
        for resource in (STS, DS):
            found = self.store.find(resource, meta["namespace"], meta["name"])
            if found and owned_by(found, meta["uid"]):
                return found, resource
        return None, None

    def _rolled_out(self, workload: dict[str, Any], resource: Any) -> bool:
        """All desired pods exist, run the current template, and are Ready."""
        status = workload.get("status") or {}
        if status.get("observedGeneration") != workload["metadata"]["generation"]:
            return False
        if resource is DS:
            desired = status.get("desiredNumberScheduled", 0)
            return status.get("updatedNumberScheduled", 0) == desired == status.get("numberReady", 0)
        desired = int((workload.get("spec") or {}).get("replicas", 1))
        return (status.get("replicas", 0) == desired == status.get("updatedReplicas", 0)
                == status.get("readyReplicas", 0))

    def _server_transition(self, key: tuple[str, str], state: ServerState, ready: bool) -> None:
        state.ready = ready
        self.record.add(ServerTransition(time.monotonic(), key[0], key[1], ready, state.image, state.release_id))

    # --- garbage collection --------------------------------------------------------------------------------

    def _collect_garbage(self) -> None:
        """Delete workloads and pods whose controlling owner is gone (what the garbage collector does)."""
        with self.store.cond:
            uids = {obj["metadata"].get("uid") for obj in self.store.objects.values()}
            orphans = [(key, obj) for key, obj in self.store.objects.items()
                       if any(ref.get("controller") and ref.get("uid") not in uids
                              for ref in obj["metadata"].get("ownerReferences") or [])]
        for key, obj in orphans:
            self._delete(by_kind(obj["kind"]), key[2], key[3])
