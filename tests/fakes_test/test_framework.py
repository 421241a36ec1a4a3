"""The fake cluster enforces K8SFramework's rules (tests/fakes/cluster/webhooks.py, tconfig_controller.py):
upstream's admission webhooks for TConfig and TServer, its TConfig controller and its TTemplates."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from fakes.cluster import FakeCluster

NS = "tars"
API = f"/apis/k8s.tars.io/v1beta3/namespaces/{NS}"
DENIED = 'admission webhook "validating.crd.tars.io-0" denied the request: '
GUARD = 0.6


@pytest.fixture
def cluster():
    with FakeCluster(tconfig_guard=GUARD, tconfig_history=2) as fake:
        call(fake, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        yield fake
        assert not fake.operator.errors, fake.operator.errors[0]


def call(cluster: FakeCluster, method: str, path: str, body: Any = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(cluster.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def refused(answer: tuple[int, Any]) -> str:
    code, body = answer
    assert code == 400, body
    return str(body["message"])


def tconfig(name: str, content: str = "a=1", pod_seq: str = "m", server: str = "HelloServer",
            config: str = "hello.conf") -> dict[str, Any]:
    return {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TConfig", "metadata": {"name": name},
            "app": "Hello", "server": server, "configName": config, "configContent": content, "podSeq": pod_seq,
            "activated": True, "updatePerson": "me", "updateReason": "test"}


def tserver(template: str = "tars.cpp", port: int = 10000, name: str = "hello-helloserver",
            sub_type: str = "tars") -> dict[str, Any]:
    return {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TServer", "metadata": {"name": name},
            "spec": {"app": "Hello", "server": "HelloServer", "subType": sub_type,
                     "tars": {"template": template, "profile": "", "servants": [{"name": "HelloObj", "port": port}]},
                     "k8s": {"replicas": 1}, "release": {"id": "v1", "image": "repo/hello:v1"}}}


def create(cluster: FakeCluster, obj: dict[str, Any]) -> tuple[int, Any]:
    return call(cluster, "POST", f"{API}/{obj['kind'].lower()}s", obj)


def get(cluster: FakeCluster, name: str) -> dict[str, Any] | None:
    return cluster.get("TConfig", NS, name)


def activated(cluster: FakeCluster, name: str) -> bool | None:
    obj = get(cluster, name)
    return None if obj is None else obj.get("activated")


# --- TTemplates ------------------------------------------------------------------------------------------


def test_every_namespace_has_the_frameworks_templates(cluster: FakeCluster):
    for ns in ("default", NS):  # one from the start, one created through the API
        assert sorted(t["metadata"]["name"] for t in cluster.objects("TTemplate", ns)) == [
            "tars.cpp", "tars.default", "tars.es", "tars.java", "tars.nodejs", "tars.php"]


# --- TServer ---------------------------------------------------------------------------------------------


def test_a_tserver_must_name_a_template_that_exists(cluster: FakeCluster):
    assert refused(create(cluster, tserver("tars.go"))) == DENIED + f"ttemplate {NS}/tars.go not exists"
    cluster.create({"apiVersion": "k8s.tars.io/v1beta3", "kind": "TTemplate",
                    "metadata": {"name": "tars.go", "namespace": NS}, "spec": {"content": "", "parent": "tars.default"}})
    assert create(cluster, tserver("tars.go"))[0] == 201


def test_tserver_name_port_and_immutable_fields(cluster: FakeCluster):
    assert refused(create(cluster, tserver(name="hello"))) == DENIED + "tserver resource is invalid : unexpected resource name"
    assert refused(create(cluster, tserver(port=19385))) == DENIED + (
        "tserver resource is invalid : servants port value should not equal 19385")
    long = tserver()
    long["spec"]["server"] = "S" * 60
    long["metadata"]["name"] = "hello-" + "s" * 60
    assert refused(create(cluster, long)) == DENIED + (
        "tserver resource is invalid : length of resource name should less then 59")
    code, made = create(cluster, tserver())
    assert code == 201
    changed = {**made, "spec": {**made["spec"], "subType": "normal"}}
    assert refused(call(cluster, "PUT", f"{API}/tservers/hello-helloserver", changed)) == DENIED + (
        'tserver resource filed ".spec.subType" is immutable')


def test_the_mutating_webhook_fills_in_a_tserver(cluster: FakeCluster):
    _, made = create(cluster, tserver())
    assert made["spec"]["k8s"]["readinessGates"] == ["tars.io/active"]
    assert made["spec"]["release"]["time"] and made["spec"]["release"]["nodeImage"]
    assert {"tars.io/ServerApp": "Hello", "tars.io/ServerName": "HelloServer", "tars.io/SubType": "tars",
            "tars.io/Template": "tars.cpp", "tars.io/ServerID": "v1"}.items() <= made["metadata"]["labels"].items()


def test_writes_that_do_not_come_through_the_api_are_not_admitted(cluster: FakeCluster):
    cluster.create({**tserver("no.such.template"), "metadata": {"name": "hello-helloserver", "namespace": NS}})
    assert cluster.get("TServer", NS, "hello-helloserver") is not None


# --- TConfig: create, versions, history ------------------------------------------------------------------


def test_create_sets_version_time_and_labels(cluster: FakeCluster):
    code, made = create(cluster, tconfig("c1"))
    assert code == 201
    assert made["version"].endswith("-" + format(__import__("zlib").crc32(b"c1"), "x")) and made["updateTime"]
    assert {"tars.io/ServerApp": "Hello", "tars.io/ServerName": "HelloServer", "tars.io/ConfigName": "hello.conf",
            "tars.io/PodSeq": "m", "tars.io/Activated": "true",
            "tars.io/Version": made["version"]}.items() <= made["metadata"]["labels"].items()


def test_a_per_pod_config_needs_an_activated_master(cluster: FakeCluster):
    assert refused(create(cluster, tconfig("p1", pod_seq="0"))) == DENIED + "no activated master tconfig found"
    assert refused(create(cluster, tconfig("a1", pod_seq="0", server=""))) == DENIED + (
        "app level tconfig does not support master/slave")
    assert create(cluster, tconfig("m1"))[0] == 201
    assert create(cluster, tconfig("p1", pod_seq="0"))[0] == 201


def test_a_new_activated_version_deactivates_the_previous_one(cluster: FakeCluster):
    create(cluster, tconfig("v1", "a=1"))
    create(cluster, tconfig("v2", "a=2"))
    cluster.wait_for(lambda: activated(cluster, "v1") is False)
    old = get(cluster, "v1")
    assert old is not None and old["metadata"]["labels"]["tars.io/Activated"] == "false"
    assert "tars.io/Deactivate" not in old["metadata"]["labels"]
    assert activated(cluster, "v2") is True


def test_the_controller_keeps_the_history_limit(cluster: FakeCluster):
    for i in range(5):  # the fixture keeps 2 deactivated versions
        assert create(cluster, tconfig(f"v{i}", f"a={i}"))[0] == 201
        cluster.wait_for(lambda: sum(o.get("activated") is True for o in cluster.objects("TConfig", NS)) == 1)
    cluster.wait_for(lambda: len(cluster.objects("TConfig", NS)) == 3)
    assert sorted(o["metadata"]["name"] for o in cluster.objects("TConfig", NS)) == ["v2", "v3", "v4"]


def test_content_and_who_why_are_immutable_and_only_the_framework_deactivates(cluster: FakeCluster):
    _, made = create(cluster, tconfig("c1"))
    path = f"{API}/tconfigs/c1"
    assert refused(call(cluster, "PUT", path, {**made, "configContent": "a=2"})) == DENIED + (
        'tconfig resource filed "/configContent" is immutable')
    assert refused(call(cluster, "PUT", path, {**made, "updateReason": "release 2"})) == DENIED + (
        'TConfig resource filed "/updateReason" is immutable')
    assert refused(call(cluster, "PUT", path, {**made, "activated": False})) == DENIED + (
        "only use authorized account can update /activated from true to false")
    assert call(cluster, "PUT", path, made)[0] == 200  # unchanged: fine


def test_reactivating_an_old_version_deactivates_the_current_one(cluster: FakeCluster):
    create(cluster, tconfig("v1", "a=1"))
    create(cluster, tconfig("v2", "a=2"))
    cluster.wait_for(lambda: activated(cluster, "v1") is False)
    code, _ = call(cluster, "PATCH", f"{API}/tconfigs/v1", {"activated": True}, "application/merge-patch+json")
    assert code == 200
    cluster.wait_for(lambda: activated(cluster, "v2") is False)
    assert activated(cluster, "v1") is True


# --- TConfig: delete -------------------------------------------------------------------------------------


def test_the_deletion_guard(cluster: FakeCluster):
    create(cluster, tconfig("c1"))
    assert refused(call(cluster, "DELETE", f"{API}/tconfigs/c1")) == DENIED + "tconfig during deletion guard time(48s)"
    time.sleep(GUARD + 0.1)
    assert call(cluster, "DELETE", f"{API}/tconfigs/c1")[0] == 200


def test_a_deactivated_version_can_be_deleted_at_once(cluster: FakeCluster):
    create(cluster, tconfig("v1", "a=1"))
    create(cluster, tconfig("v2", "a=2"))
    cluster.wait_for(lambda: activated(cluster, "v1") is False)
    assert call(cluster, "DELETE", f"{API}/tconfigs/v1")[0] == 200


def test_a_master_cannot_go_while_a_per_pod_config_of_its_name_exists(cluster: FakeCluster):
    create(cluster, tconfig("m1"))
    create(cluster, tconfig("p1", pod_seq="0"))
    time.sleep(GUARD + 0.1)
    assert refused(call(cluster, "DELETE", f"{API}/tconfigs/m1")) == DENIED + (
        f"cannot delete tconfig {NS}/m1 because it is reference by anther tconfig")
    assert call(cluster, "DELETE", f"{API}/tconfigs/p1")[0] == 200
    assert call(cluster, "DELETE", f"{API}/tconfigs/m1")[0] == 200


def test_deleting_the_activated_version_takes_its_history_along(cluster: FakeCluster):
    create(cluster, tconfig("v1", "a=1"))
    create(cluster, tconfig("v2", "a=2"))
    cluster.wait_for(lambda: activated(cluster, "v1") is False)
    time.sleep(GUARD + 0.1)
    assert call(cluster, "DELETE", f"{API}/tconfigs/v2")[0] == 200
    cluster.wait_for(lambda: not cluster.objects("TConfig", NS))
