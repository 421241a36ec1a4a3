"""deploy/configs.py against the fake cluster that enforces K8SFramework's webhooks and TConfig controller."""
from __future__ import annotations

import time

import pytest

from fakes.cluster import FakeCluster
from tars_tasks.deploy.configs import Configs
from tars_tasks.deploy.kube import Kube

NS = "tars"


def tconfig(name: str, pod_seq: str = "m", content: str = "a=1") -> dict:
    return {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TConfig",
            "metadata": {"name": name, "labels": {"tars-tasks.io/release": "hello-helloserver"}},
            "app": "Hello", "server": "HelloServer", "configName": "hello.conf", "configContent": content,
            "podSeq": pod_seq, "activated": True}


@pytest.fixture
def configs(tmp_path, monkeypatch):
    with FakeCluster(tconfig_guard=1.0, namespaces=("default", NS)) as cluster:
        monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig(tmp_path / "kc")))
        said: list[str] = []
        yield cluster, Configs(Kube(), NS, said.append, poll=0.1), said


def test_masters_are_created_before_per_pod_configs_and_who_why_once(configs):
    cluster, versions, _ = configs
    versions.ensure("hello-helloserver", [tconfig("p", "0"), tconfig("m")], "alice", "release 7")
    added = [c.name for c in cluster.changes if c.kind == "TConfig" and c.type == "ADDED"]
    assert added == ["m", "p"]
    assert cluster.get("TConfig", NS, "p")["updatePerson"] == "alice"
    writes = len(cluster.changes)
    versions.ensure("hello-helloserver", [tconfig("p", "0"), tconfig("m")], "bob", "release 8")
    assert len(cluster.changes) == writes  # exists and activated: not written


def test_history_is_reactivated_not_recreated(configs):
    cluster, versions, _ = configs
    versions.ensure("hello-helloserver", [tconfig("v1", content="a=1")])
    versions.ensure("hello-helloserver", [tconfig("v2", content="a=2")])
    cluster.wait_for(lambda: cluster.get("TConfig", NS, "v1")["activated"] is False)
    versions.ensure("hello-helloserver", [tconfig("v1", content="a=1")])
    cluster.wait_for(lambda: cluster.get("TConfig", NS, "v2")["activated"] is False)
    assert cluster.get("TConfig", NS, "v1")["activated"] is True


def test_removal_in_the_webhooks_order_waiting_out_the_guard(configs):
    cluster, versions, said = configs
    versions.ensure("hello-helloserver", [tconfig("m1", content="a=1"), tconfig("p1", "0")])
    versions.ensure("hello-helloserver", [tconfig("m2", content="a=2")])
    started = time.monotonic()
    versions.remove(versions.live("hello-helloserver"), time.monotonic() + 30)
    assert time.monotonic() - started >= 0.5  # the guard was waited out, not refused
    assert not cluster.objects("TConfig", NS)
    assert any("waiting for the framework's deletion guard" in line for line in said)
