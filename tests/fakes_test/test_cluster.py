"""The fake cluster (tests/fakes/cluster) against the real helm 4 and the lightkube client."""
from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError as LightkubeError
from lightkube import Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType

from fakes.cluster import FakeCluster, Outcome
from fakes.cluster.protobuf import decode

NS = "tars"
NAME = "hello-helloserver"
TServer = create_namespaced_resource("k8s.tars.io", "v1beta3", "TServer", "tservers")
TServerV1beta2 = create_namespaced_resource("k8s.tars.io", "v1beta2", "TServer", "tservers")

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: hello\nversion: 0.1.0\n",
    "values.yaml": "image: repo/hello:v1\nid: v1\nreplicas: 1\ndaemonSet: false\n",
    "templates/all.yaml": """\
apiVersion: k8s.tars.io/v1beta3
kind: TServer
metadata:
  name: hello-helloserver
spec:
  app: Hello
  server: HelloServer
  subType: tars
  k8s:
    replicas: {{ .Values.replicas }}
    daemonSet: {{ .Values.daemonSet }}
  release:
    id: {{ .Values.id | quote }}
    image: {{ .Values.image | quote }}
---
apiVersion: k8s.tars.io/v1beta3
kind: TConfig
metadata:
  name: hello-helloserver-conf
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation
app: Hello
server: HelloServer
configName: hello.conf
configContent: "id={{ .Values.id }}"
podSeq: m
activated: true
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: hello-cm
data:
  id: {{ .Values.id | quote }}
""",
}


class Helm:
    """The real helm, with its own homes and an explicit kubeconfig."""

    def __init__(self, binary: str, tmp: Path, kubeconfig: Path):
        self.binary, self.kubeconfig = binary, kubeconfig
        self.env = {**os.environ, **{f"HELM_{k}_HOME": str(tmp / f"helm-{k.lower()}") for k in ("CACHE", "CONFIG",
                                                                                              "DATA")}}

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([self.binary, "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              text=True, env=self.env, timeout=60)
        if check:
            assert done.returncode == 0, f"helm {' '.join(args)}: {done.stderr}"
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json").stdout)


@pytest.fixture
def cluster():
    with FakeCluster(tconfig_guard=0) as fake:  # the chart's hook TConfig is deleted on every upgrade
        yield fake
        assert not fake.operator.errors, fake.operator.errors[0]


@pytest.fixture
def kubeconfig(cluster: FakeCluster, tmp_path: Path) -> Path:
    return cluster.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def helm(helm_bin: str, tmp_path: Path, kubeconfig: Path) -> Helm:
    return Helm(helm_bin, tmp_path, kubeconfig)


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    for name, text in CHART.items():
        (tmp_path / "chart" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "chart" / name).write_text(text)
    return tmp_path / "chart"


@pytest.fixture
def client(cluster: FakeCluster, kubeconfig: Path) -> Client:
    return Client(KubeConfig.from_file(kubeconfig), trust_env=False)


def tserver(image: str = "repo/hello:v1", release_id: str = "v1", replicas: int = 1, daemon: bool = False,
            name: str = NAME) -> dict[str, Any]:
    return {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TServer", "metadata": {"name": name, "namespace": NS},
            "spec": {"app": "Hello", "server": "HelloServer", "k8s": {"replicas": replicas, "daemonSet": daemon},
                     "release": {"id": release_id, "image": image}}}


def with_namespace(cluster: FakeCluster) -> FakeCluster:
    cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    return cluster


def pods(cluster: FakeCluster) -> list[dict[str, Any]]:
    return cluster.objects("Pod", NS)


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in pod["status"].get("conditions", []) if c["type"] == kind), {})


def waiting(pod: dict[str, Any]) -> dict[str, Any]:
    statuses = pod["status"].get("containerStatuses") or [{}]
    return statuses[0].get("state", {}).get("waiting", {})


def all_ready(cluster: FakeCluster, count: int, image: str | None = None) -> bool:
    found = pods(cluster)
    return len(found) == count and all(condition(p, "Ready").get("status") == "True" and (
        image is None or p["spec"]["containers"][0]["image"] == image) for p in found)


def release_secret(cluster: FakeCluster, revision: int) -> dict[str, Any]:
    secret = cluster.get("Secret", NS, f"sh.helm.release.v1.x.v{revision}")
    assert secret is not None
    return secret


def raw(cluster: FakeCluster, method: str, path: str, body: Any = None,
        content_type: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(cluster.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# --- helm ------------------------------------------------------------------------------------------------


def test_helm_install_upgrade_rollback_status_uninstall(cluster: FakeCluster, helm: Helm, chart: Path):
    helm("upgrade", "--install", "x", str(chart), "-n", NS, "--create-namespace", "--wait", "--timeout", "30s")
    assert [(r["name"], r["revision"], r["status"]) for r in helm.json("list", "-n", NS)] == [("x", "1", "deployed")]
    secret = release_secret(cluster, 1)  # written as protobuf, stored as JSON with base64 data
    assert secret["type"] == "helm.sh/release.v1"
    assert {"name": "x", "owner": "helm", "status": "deployed", "version": "1"}.items() <= secret["metadata"][
        "labels"].items()
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secret["data"]["release"]))))
    assert (release["name"], release["version"], release["info"]["status"]) == ("x", 1, "deployed")
    sts = cluster.wait_for(lambda: cluster.get("StatefulSet", NS, NAME))
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "repo/hello:v1"

    helm("upgrade", "--install", "x", str(chart), "-n", NS, "--set", "image=repo/hello:v2,id=v2", "--wait")
    history = helm.json("history", "x", "-n", NS)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    assert cluster.get("ConfigMap", NS, "hello-cm")["data"] == {"id": "v2"}
    assert cluster.get("TConfig", NS, "hello-helloserver-conf")["configContent"] == "id=v2"  # a hook, re-created
    hook = [c.type for c in cluster.changes if c.kind == "TConfig"]
    assert hook == ["ADDED", "DELETED", "ADDED"]
    cluster.wait_for(lambda: all_ready(cluster, 1, "repo/hello:v2"))

    helm("rollback", "x", "1", "-n", NS, "--wait", "--timeout", "30s")
    status = helm.json("status", "x", "-n", NS)
    assert (status["version"], status["info"]["status"]) == (3, "deployed")
    assert cluster.get("TServer", NS, NAME)["spec"]["release"]["image"] == "repo/hello:v1"
    cluster.wait_for(lambda: all_ready(cluster, 1, "repo/hello:v1"))
    assert "kind: TServer" in helm("get", "manifest", "x", "-n", NS).stdout

    helm("uninstall", "x", "-n", NS)
    cluster.wait_for(lambda: not pods(cluster) and not cluster.objects("StatefulSet", NS))
    assert not cluster.objects("TServer", NS) and not cluster.objects("Secret", NS)


def test_helm_speaks_server_side_apply_protobuf_and_initial_events(cluster: FakeCluster, helm: Helm, chart: Path):
    helm("upgrade", "--install", "x", str(chart), "-n", NS, "--create-namespace", "--wait", "--timeout", "30s")
    requests = cluster.requests
    namespace_apply = next(r for r in requests if r.method == "PATCH" and r.path == f"/api/v1/namespaces/{NS}")
    assert namespace_apply.content_type == "application/apply-patch+yaml"
    assert namespace_apply.query["fieldManager"] == "helm"
    assert any(r.method == "POST" and r.path.endswith("/secrets") and r.content_type ==
               "application/vnd.kubernetes.protobuf" for r in requests)
    watches = [r for r in requests if r.query.get("watch") == "true"]
    assert watches and all(r.query.get("sendInitialEvents") == "true" for r in watches)
    assert not [r for r in requests if r.code >= 500]


def test_a_failed_upgrade_stalls_the_rollout_and_a_rollback_heals_it(cluster: FakeCluster, helm: Helm, chart: Path):
    cluster.set_outcome("repo/hello:bad", Outcome.crashloop(delay=0.1, error_line="boom: no config"))
    helm("upgrade", "--install", "x", str(chart), "-n", NS, "--create-namespace", "--set", "replicas=2", "--wait")
    cluster.wait_for(lambda: all_ready(cluster, 2, "repo/hello:v1"))
    helm("upgrade", "x", str(chart), "-n", NS, "--set", "replicas=2,image=repo/hello:bad,id=bad")
    # the highest ordinal is replaced first and crashes; the rollout stops there
    crashing = cluster.wait_for(lambda: [p for p in pods(cluster) if waiting(p).get("reason") == "CrashLoopBackOff"])
    assert [p["metadata"]["name"] for p in crashing] == [f"{NAME}-1"]
    sts = cluster.get("StatefulSet", NS, NAME)
    assert (sts["status"]["readyReplicas"], sts["status"]["updatedReplicas"]) == (1, 1)
    assert sts["status"]["currentRevision"] != sts["status"]["updateRevision"]
    assert cluster.ready_since(NAME) is None

    helm("rollback", "x", "1", "-n", NS, "--wait")
    cluster.wait_for(lambda: all_ready(cluster, 2, "repo/hello:v1"))
    assert cluster.wait_for(lambda: cluster.ready_since(NAME))


def test_kube_context_selects_the_cluster(helm_bin: str, tmp_path: Path, chart: Path):
    with FakeCluster() as one, FakeCluster() as two:
        config = one.kubeconfig(tmp_path / "kubeconfig", "one")
        two.kubeconfig(config, "two")
        helm = Helm(helm_bin, tmp_path, config)
        helm("upgrade", "--install", "x", str(chart), "-n", NS, "--create-namespace", "--kube-context", "two")
        assert two.get("TServer", NS, NAME) and not one.get("TServer", NS, NAME)
        assert helm.json("list", "-n", NS) == []  # the current context is "one"


# --- the operator ----------------------------------------------------------------------------------------


def test_tserver_becomes_a_labelled_statefulset_with_ready_pods(cluster: FakeCluster):
    with_namespace(cluster).create(tserver(replicas=2))
    created = cluster.first_created("TServer", NAME)
    sts = cluster.wait_for(lambda: cluster.get("StatefulSet", NS, NAME))
    labels = {"tars.io/ServerApp": "Hello", "tars.io/ServerName": "HelloServer"}
    assert sts["metadata"]["labels"] == labels and sts["spec"]["selector"] == {"matchLabels": labels}
    template = sts["spec"]["template"]
    assert template["metadata"]["labels"] == {**labels, "tars.io/ReleaseID": "v1"}
    assert template["spec"]["containers"][0]["name"] == NAME
    assert template["spec"]["containers"][0]["image"] == "repo/hello:v1"
    assert template["spec"]["readinessGates"] == [{"conditionType": "tars.io/active"}]

    cluster.wait_for(lambda: all_ready(cluster, 2))
    assert sorted(p["metadata"]["name"] for p in pods(cluster)) == [f"{NAME}-0", f"{NAME}-1"]
    pod = pods(cluster)[0]
    assert pod["status"]["phase"] == "Running" and condition(pod, "tars.io/active")["status"] == "True"
    sts = cluster.wait_for(lambda: (s := cluster.get("StatefulSet", NS, NAME))["status"].get("readyReplicas") == 2
                           and s)
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    status = cluster.wait_for(lambda: cluster.get("TServer", NS, NAME).get("status", {}).get("readyReplicas") == 2
                              and cluster.get("TServer", NS, NAME)["status"])
    assert status == {"replicas": 2, "readyReplicas": 2, "currentReplicas": 2,
                      "selector": "tars.io/ServerApp=Hello,tars.io/ServerName=HelloServer"}
    ready = cluster.wait_for(lambda: cluster.ready_since(NAME))
    became_ready = [t.time for t in cluster.pod_transitions if t.ready]
    assert created < min(became_ready) and max(became_ready) <= ready


def test_right_after_an_update_the_status_describes_the_old_pods(cluster: FakeCluster, client: Client):
    with_namespace(cluster).create(tserver())
    cluster.wait_for(lambda: all_ready(cluster, 1) and cluster.ready_since(NAME))
    cluster.set_outcome("v2", Outcome.ready(reconcile_delay=1.0))
    client.patch(TServer, NAME, {"spec": {"release": {"id": "v2", "image": "repo/hello:v2"}}}, namespace=NS,
                 patch_type=PatchType.MERGE)
    cluster.wait_for(lambda: cluster.ready_since(NAME) is None)  # the new spec is not rolled out...
    sts = cluster.get("StatefulSet", NS, NAME)  # ...but the workload and the status still tell of the old pods
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "repo/hello:v1"
    assert sts["status"]["readyReplicas"] == 1
    assert cluster.get("TServer", NS, NAME)["status"]["readyReplicas"] == 1
    cluster.wait_for(lambda: all_ready(cluster, 1, "repo/hello:v2"))
    assert cluster.wait_for(lambda: cluster.ready_since(NAME))


def test_crashloop(cluster: FakeCluster, client: Client):
    cluster.set_outcome("repo/hello:v1", Outcome.crashloop(delay=0.1, restart_period=0.1, exit_code=3,
                                                           error_line="FATAL: cannot bind 0.0.0.0:10000"))
    with_namespace(cluster).create(tserver())
    pod = cluster.wait_for(lambda: [p for p in pods(cluster) if waiting(p).get("reason") == "CrashLoopBackOff"])[0]
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 3
    first = pod["status"]["containerStatuses"][0]["restartCount"]
    cluster.wait_for(lambda: pods(cluster)[0]["status"]["containerStatuses"][0]["restartCount"] > first)
    lines = list(client.log(f"{NAME}-0", namespace=NS))
    assert lines[-1] == "FATAL: cannot bind 0.0.0.0:10000\n"
    events = cluster.events(NS, f"{NAME}-0")
    assert any(e["type"] == "Warning" and e["reason"] == "BackOff" for e in events)
    assert [t.reason for t in cluster.pod_transitions] == ["ContainerCreating"]


def test_image_pull_failure(cluster: FakeCluster, client: Client):
    cluster.set_outcome("v1", Outcome.imagepull(delay=1.0))
    with_namespace(cluster).create(tserver(image="repo/hello:missing"))
    cluster.wait_for(lambda: pods(cluster) and waiting(pods(cluster)[0]).get("reason") == "ErrImagePull")
    pod = cluster.wait_for(lambda: [p for p in pods(cluster) if waiting(p).get("reason") == "ImagePullBackOff"])[0]
    assert "repo/hello:missing" in waiting(pod)["message"] and pod["status"]["phase"] == "Pending"
    messages = [e["message"] for e in cluster.events(NS, f"{NAME}-0") if e["type"] == "Warning"]
    assert any('Failed to pull image "repo/hello:missing"' in m for m in messages)
    with pytest.raises(LightkubeError) as failure:
        list(client.log(f"{NAME}-0", namespace=NS))
    assert failure.value.status.code == 400


def test_unschedulable(cluster: FakeCluster):
    cluster.set_outcome(NAME, Outcome.unschedulable())
    with_namespace(cluster).create(tserver())
    pod = cluster.wait_for(lambda: [p for p in pods(cluster) if condition(p, "PodScheduled")])[0]
    scheduled = condition(pod, "PodScheduled")
    assert (pod["status"]["phase"], scheduled["status"], scheduled["reason"]) == ("Pending", "False", "Unschedulable")
    assert scheduled["message"].startswith("0/2 nodes are available: 2 Insufficient cpu.")
    event = cluster.wait_for(lambda: [e for e in cluster.events(NS, f"{NAME}-0") if e["reason"] == "FailedScheduling"])
    assert event[0]["type"] == "Warning" and event[0]["involvedObject"]["kind"] == "Pod"


def test_inactive(cluster: FakeCluster):
    cluster.set_outcome(NAME, Outcome.inactive(delay=0.1))
    with_namespace(cluster).create(tserver())
    pod = cluster.wait_for(lambda: [p for p in pods(cluster) if condition(p, "tars.io/active")])[0]
    assert pod["status"]["phase"] == "Running" and pod["status"]["containerStatuses"][0]["ready"]
    assert condition(pod, "tars.io/active")["status"] == "False"
    assert (condition(pod, "Ready")["status"], condition(pod, "Ready")["reason"]) == ("False", "ReadinessGatesNotReady")
    assert cluster.get("TServer", NS, NAME)["status"].get("readyReplicas", 0) == 0


def test_daemonset_has_a_pod_per_node(cluster: FakeCluster):
    with_namespace(cluster).create(tserver(daemon=True))
    cluster.wait_for(lambda: all_ready(cluster, 2))
    assert cluster.get("StatefulSet", NS, NAME) is None
    assert sorted(p["spec"]["nodeName"] for p in pods(cluster)) == ["node-1", "node-2"]
    assert all(p["metadata"]["name"].startswith(f"{NAME}-") and len(p["metadata"]["name"]) == len(NAME) + 6
               for p in pods(cluster))
    ds = cluster.wait_for(lambda: (d := cluster.get("DaemonSet", NS, NAME))["status"].get("numberReady") == 2 and d)
    assert ds["status"]["desiredNumberScheduled"] == ds["status"]["updatedNumberScheduled"] == 2
    assert ds["status"]["observedGeneration"] == ds["metadata"]["generation"]


def test_zero_replicas_is_ready_at_once(cluster: FakeCluster):
    with_namespace(cluster).create(tserver(replicas=0))
    cluster.wait_for(lambda: cluster.ready_since(NAME))
    assert pods(cluster) == [] and cluster.get("StatefulSet", NS, NAME)["status"]["replicas"] == 0


def test_deleting_a_tserver_deletes_its_workload_and_pods(cluster: FakeCluster, client: Client):
    with_namespace(cluster).create(tserver())
    cluster.wait_for(lambda: all_ready(cluster, 1))
    client.delete(TServer, NAME, namespace=NS)
    cluster.wait_for(lambda: not pods(cluster) and cluster.get("StatefulSet", NS, NAME) is None)
    assert cluster.pod_transitions[-1].deleted


# --- the API for Python clients --------------------------------------------------------------------------


def test_lightkube_get_list_watch_and_generic_resources(cluster: FakeCluster, client: Client):
    with_namespace(cluster)
    watch = client.watch(Pod, namespace=NS, labels={"tars.io/ServerName": "HelloServer"})
    client.create(TServer(metadata={"name": NAME, "namespace": NS}, spec=tserver()["spec"]))
    seen = []
    for kind, pod in watch:
        seen.append(kind)
        if pod.status and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []):
            break
    assert seen[0] == "ADDED" and "MODIFIED" in seen
    assert client.get(Pod, f"{NAME}-0", namespace=NS).spec.containers[0].image == "repo/hello:v1"
    assert [p.metadata.name for p in client.list(Pod, namespace=NS, labels={"tars.io/ServerApp": "Hello"})] == [
        f"{NAME}-0"]
    assert list(client.list(Pod, namespace=NS, labels={"tars.io/ServerApp": "Other"})) == []
    live = client.get(TServer, NAME, namespace=NS)
    assert live.spec["release"]["image"] == "repo/hello:v1"
    assert cluster.wait_for(lambda: client.get(TServer, NAME, namespace=NS).status.get("readyReplicas") == 1)
    assert list(client.log(f"{NAME}-0", namespace=NS)) == ["[info] loading configuration\n",
                                                          "[info] server started\n"]
    assert client.get(TServerV1beta2, NAME, namespace=NS).apiVersion == "k8s.tars.io/v1beta2"


def test_watch_initial_events_bookmark_and_resume(cluster: FakeCluster):
    with_namespace(cluster).create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": NS}})
    base = f"{cluster.url}/api/v1/namespaces/{NS}/configmaps?watch=true&timeoutSeconds=1"
    with urllib.request.urlopen(base + "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                                "&allowWatchBookmarks=true", timeout=5) as stream:
        first, second = json.loads(stream.readline()), json.loads(stream.readline())
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
    assert second["type"] == "BOOKMARK"
    assert second["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    rv = second["object"]["metadata"]["resourceVersion"]
    cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": NS}})
    with urllib.request.urlopen(f"{base}&resourceVersion={rv}", timeout=5) as stream:
        events = [json.loads(line) for line in stream]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]


def test_writes_conflicts_and_patches(cluster: FakeCluster, client: Client):
    with_namespace(cluster)
    created = client.create(ConfigMap(metadata=ObjectMeta(name="c", namespace=NS, labels={"a": "1"}),
                                      data={"k": "v"}))
    with pytest.raises(LightkubeError) as exists:
        client.create(ConfigMap(metadata=ObjectMeta(name="c", namespace=NS)))
    assert (exists.value.status.code, exists.value.status.reason) == (409, "AlreadyExists")
    version = created.metadata.resourceVersion
    client.replace(ConfigMap(metadata=ObjectMeta(name="c", namespace=NS, resourceVersion=version), data={"k": "w"}))
    with pytest.raises(LightkubeError) as stale:
        client.replace(ConfigMap(metadata=ObjectMeta(name="c", namespace=NS, resourceVersion=version),
                                 data={"k": "x"}))
    assert (stale.value.status.code, stale.value.status.reason) == (409, "Conflict")
    client.patch(ConfigMap, "c", {"data": {"m": "1"}}, namespace=NS, patch_type=PatchType.MERGE)
    client.patch(ConfigMap, "c", [{"op": "remove", "path": "/data/k"}], namespace=NS, patch_type=PatchType.JSON)
    assert client.get(ConfigMap, "c", namespace=NS).data == {"m": "1"}
    client.patch(ConfigMap, "d", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"},
                                  "data": {"a": "1", "b": "2"}}, namespace=NS, patch_type=PatchType.APPLY,
                 field_manager="me")
    client.patch(ConfigMap, "d", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"},
                                  "data": {"a": "3"}}, namespace=NS, patch_type=PatchType.APPLY, field_manager="me")
    assert client.get(ConfigMap, "d", namespace=NS).data == {"a": "3"}  # the manager dropped "b"
    with pytest.raises(LightkubeError) as missing:
        client.create(ConfigMap(metadata=ObjectMeta(name="c", namespace="nowhere")))
    assert missing.value.status.code == 404
    assert list(client.list(ConfigMap, namespace="nowhere")) == []


def test_selectors_and_collection_delete(cluster: FakeCluster):
    with_namespace(cluster)
    for name, labels in (("a", {"tier": "x", "app": "p"}), ("b", {"tier": "y"}), ("c", {"tier": "z", "app": "q"})):
        cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NS,
                                                                           "labels": labels}})

    def names(selector: str) -> list[str]:
        code, body = raw(cluster, "GET", f"/api/v1/namespaces/{NS}/configmaps?labelSelector="
                         + urllib.request.quote(selector))
        assert code == 200
        return [i["metadata"]["name"] for i in body["items"]]
    assert names("tier in (x,y),app") == ["a"]
    assert names("tier!=x,!app") == ["b"]
    assert names("tier notin (x),app=q") == ["c"]
    code, body = raw(cluster, "GET", f"/api/v1/namespaces/{NS}/configmaps?fieldSelector=metadata.name%3Db")
    assert [i["metadata"]["name"] for i in body["items"]] == ["b"]
    code, body = raw(cluster, "DELETE", f"/api/v1/namespaces/{NS}/configmaps?labelSelector=app")
    assert code == 200 and names("") == ["b"]
    code, body = raw(cluster, "GET", f"/api/v1/namespaces/{NS}/configmaps/zzz")
    assert (code, body["kind"], body["reason"]) == (404, "Status", "NotFound")


def test_protobuf_secret_decoding():
    def field(number: int, payload: bytes) -> bytes:
        return bytes([number << 3 | 2, len(payload)]) + payload

    def entry(key: bytes, value: bytes) -> bytes:
        return field(1, key) + field(2, value)
    meta = field(1, b"s") + field(3, NS.encode()) + field(11, entry(b"owner", b"helm"))
    secret = field(1, meta) + field(2, entry(b"release", b"\x00\x01")) + field(3, b"helm.sh/release.v1")
    body = b"k8s\x00" + field(1, field(1, b"v1") + field(2, b"Secret")) + field(2, secret)
    assert decode(body) == {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                            "metadata": {"name": "s", "namespace": NS, "labels": {"owner": "helm"}},
                            "data": {"release": "AAE="}}


def test_a_values_only_change_rolls_pods_by_revision_with_its_own_outcome(cluster: FakeCluster, client: Client):
    """Env keeps the image yet makes a new revision: pods are replaced highest ordinal first, the old ones keep
    their state until replaced, and an outcome keyed on the env value decides what the new pods do."""
    with_namespace(cluster).create(tserver(replicas=2))
    cluster.wait_for(lambda: all_ready(cluster, 2) and cluster.ready_since(NAME))
    old = cluster.get("StatefulSet", NS, NAME)["status"]["updateRevision"]
    cluster.set_outcome("env:MODE=bad", Outcome.crashloop(delay=0.1, restart_period=0.1, reconcile_delay=0.3))
    client.patch(TServer, NAME, {"spec": {"k8s": {"env": [{"name": "MODE", "value": "bad"}]}}}, namespace=NS,
                 patch_type=PatchType.MERGE)
    time.sleep(0.15)  # before the reconcile delay: the workload still describes the old revision
    assert cluster.get("StatefulSet", NS, NAME)["status"]["updateRevision"] == old
    sts = cluster.wait_for(lambda: (s := cluster.get("StatefulSet", NS, NAME))["status"]["updateRevision"] != old
                           and s)
    new = sts["status"]["updateRevision"]
    assert sts["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "bad"}]
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]
    crashing = cluster.wait_for(lambda: [p for p in pods(cluster) if waiting(p).get("reason") == "CrashLoopBackOff"])
    assert [p["metadata"]["name"] for p in crashing] == [f"{NAME}-1"]  # highest ordinal first...
    assert crashing[0]["metadata"]["labels"]["controller-revision-hash"] == new
    time.sleep(0.5)  # ...and one at a time: pod 0 keeps the old revision, Ready, while pod 1 cannot become Ready
    zero = cluster.get("Pod", NS, f"{NAME}-0")
    assert zero["metadata"]["labels"]["controller-revision-hash"] == old and condition(zero, "Ready")["status"] == "True"
    status = cluster.get("StatefulSet", NS, NAME)["status"]
    assert (status["currentRevision"], status["updatedReplicas"], status["readyReplicas"]) == (old, 1, 1)


def test_single_requests_fail_on_demand(cluster: FakeCluster):
    with_namespace(cluster).create(tserver())
    path = f"/apis/k8s.tars.io/v1beta3/namespaces/{NS}/tservers/{NAME}"
    fault = cluster.fail_request(path, nth=2)
    assert raw(cluster, "GET", path)[0] == 200
    code, body = raw(cluster, "GET", path)
    assert code == 500 and body["reason"] == "InternalError" and fault.fired
    assert raw(cluster, "GET", path)[0] == 200  # once
    cluster.fail_request(path, kind="429")
    assert raw(cluster, "GET", path)[0] == 429
    cluster.fail_request(path, kind="reset")
    with pytest.raises((ConnectionError, urllib.error.URLError, http.client.HTTPException)):
        raw(cluster, "GET", path)
    assert raw(cluster, "GET", path)[0] == 200


# --- StatefulSet update strategies (what canaries stand on) ------------------------------------------------


def revisions(cluster: FakeCluster) -> dict[str, str]:
    """Pod name -> its controller-revision-hash."""
    return {p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"] for p in pods(cluster)}


def update_revision(cluster: FakeCluster, old: str) -> str:
    return cluster.wait_for(lambda: (r := cluster.get("StatefulSet", NS, NAME)["status"]["updateRevision"]) != old
                            and r)


def test_a_partition_moves_only_the_ordinals_at_or_above_it_highest_first_one_ready_at_a_time(
        cluster: FakeCluster, client: Client):
    with_namespace(cluster).create(tserver(replicas=4))
    cluster.wait_for(lambda: all_ready(cluster, 4) and cluster.ready_since(NAME))
    old = cluster.get("StatefulSet", NS, NAME)["status"]["updateRevision"]
    cluster.set_outcome("repo/hello:v2", Outcome.ready(delay=0.1))
    client.patch(TServer, NAME, {"spec": {"release": {"id": "v2", "image": "repo/hello:v2"}, "k8s": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}}}, namespace=NS,
        patch_type=PatchType.MERGE)
    new = update_revision(cluster, old)
    cluster.wait_for(lambda: revisions(cluster) == {f"{NAME}-0": old, f"{NAME}-1": old, f"{NAME}-2": new,
                                                    f"{NAME}-3": new} and all_ready(cluster, 4))
    time.sleep(0.3)  # and it stays there: the ordinals below the partition are never touched
    assert sorted(revisions(cluster).values()) == [new, new, old, old]
    moved = [(t.pod, "deleted" if t.deleted else t.ready) for t in cluster.pod_transitions
             if t.pod in (f"{NAME}-2", f"{NAME}-3") and (t.deleted or t.image == "repo/hello:v2")]
    assert moved == [(f"{NAME}-3", "deleted"), (f"{NAME}-3", False), (f"{NAME}-3", True),
                     (f"{NAME}-2", "deleted"), (f"{NAME}-2", False), (f"{NAME}-2", True)]
    assert not [t for t in cluster.pod_transitions if t.deleted and t.pod in (f"{NAME}-0", f"{NAME}-1")]
    status = cluster.get("StatefulSet", NS, NAME)["status"]
    assert (status["currentRevision"], status["updatedReplicas"], status["currentReplicas"]) == (old, 2, 2)

    client.delete(Pod, f"{NAME}-0", namespace=NS)  # a pod below the partition comes back at the current revision
    cluster.wait_for(lambda: all_ready(cluster, 4) and revisions(cluster)[f"{NAME}-0"] == old)

    client.patch(TServer, NAME, {"spec": {"k8s": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}},
                 namespace=NS, patch_type=PatchType.MERGE)
    cluster.wait_for(lambda: set(revisions(cluster).values()) == {new} and all_ready(cluster, 4))
    status = cluster.wait_for(lambda: (s := cluster.get("StatefulSet", NS, NAME)["status"])["currentRevision"] == new
                              and s)
    assert status["updatedReplicas"] == 4


def test_a_broken_revision_behind_a_partition_stalls_at_its_first_pod(cluster: FakeCluster, client: Client):
    with_namespace(cluster).create(tserver(replicas=4))
    cluster.wait_for(lambda: all_ready(cluster, 4) and cluster.ready_since(NAME))
    old = cluster.get("StatefulSet", NS, NAME)["status"]["updateRevision"]
    cluster.set_outcome("repo/hello:bad", Outcome.crashloop(delay=0.05, restart_period=0.05))
    client.patch(TServer, NAME, {"spec": {"release": {"id": "bad", "image": "repo/hello:bad"}, "k8s": {
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}}}}, namespace=NS,
        patch_type=PatchType.MERGE)
    new = update_revision(cluster, old)
    cluster.wait_for(lambda: revisions(cluster).get(f"{NAME}-3") == new)
    time.sleep(0.5)
    assert revisions(cluster) == {f"{NAME}-0": old, f"{NAME}-1": old, f"{NAME}-2": old, f"{NAME}-3": new}


def test_on_delete_replaces_a_pod_only_when_it_is_deleted(cluster: FakeCluster, client: Client):
    with_namespace(cluster).create(tserver(replicas=2))
    cluster.wait_for(lambda: all_ready(cluster, 2) and cluster.ready_since(NAME))
    old = cluster.get("StatefulSet", NS, NAME)["status"]["updateRevision"]
    client.patch(TServer, NAME, {"spec": {"release": {"id": "v2", "image": "repo/hello:v2"}, "k8s": {
        "updateStrategy": {"type": "OnDelete"}}}}, namespace=NS, patch_type=PatchType.MERGE)
    new = update_revision(cluster, old)
    time.sleep(0.3)
    assert revisions(cluster) == {f"{NAME}-0": old, f"{NAME}-1": old}
    client.delete(Pod, f"{NAME}-0", namespace=NS)
    cluster.wait_for(lambda: revisions(cluster) == {f"{NAME}-0": new, f"{NAME}-1": old} and all_ready(cluster, 2))
