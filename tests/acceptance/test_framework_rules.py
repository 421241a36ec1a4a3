"""The framework's admission rules that depend on the namespace, checked when a release is planned (before
anything is built or applied; tars_tasks/plan/cluster_rules.py), against the fake cluster that enforces them."""
from __future__ import annotations

import json

import pytest

from clustermono import ClusterMono, sample_in_cluster

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
NS = "tars"
LOG = "Base.LogServer"


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


def edit(mono: ClusterMono, old: str, new: str) -> None:
    path = mono.root / "services/Base/LogServer/values.yaml"
    path.write_text(path.read_text().replace(old, new, 1))


def test_a_template_the_namespace_lacks_is_a_located_error_before_any_work(mono):
    edit(mono, "template: tars.default", "template: tars.go")
    plan = mono("plan", "--service", LOG)
    assert plan.returncode == 1
    assert ("services/Base/LogServer/values.yaml:3:11: template: 'tars.go' is no TTemplate in namespace tars (it has: "
            "tars.cpp, tars.default, tars.es, tars.java, tars.nodejs, tars.php)") in plan.stderr
    result, services = mono.release("--service", LOG)
    assert result.returncode == 1 and services == {}
    assert "is no TTemplate in namespace tars" in result.stderr
    assert not [r for r in mono.cluster.requests if r.method == "POST" and "/tservers" in r.path]
    # a team's own template, once it exists in the namespace, is fine
    mono.cluster.create({"apiVersion": "k8s.tars.io/v1beta3", "kind": "TTemplate",
                         "metadata": {"name": "tars.go", "namespace": NS},
                         "spec": {"content": "<tars/>", "parent": "tars.default"}})
    assert mono("plan", "--service", LOG).returncode == 0


def test_an_immutable_field_of_a_deployed_server_needs_replace(mono):
    result, _ = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    first_uid = mono.cluster.get("TServer", NS, "base-logserver")["metadata"]["uid"]
    edit(mono, "server: LogServer", "server: Logserver")  # the same TServer name, another spec.server
    plan = mono("plan", "--service", "Base.Logserver")
    assert plan.returncode == 1
    assert ("services/Base/LogServer/values.yaml:2:9: server: the deployed TServer base-logserver has server "
            "'LogServer', this is 'Logserver': the framework cannot change it; it needs the TServer deleted and "
            "created again (release or deploy with --replace does that, plan --replace shows it; its pods "
            "restart)") in plan.stderr
    # plan --replace shows the replacement, and a plan saved with it runs it
    saved = mono.tmp / "plan.json"
    plan = mono("plan", "--json", "--service", "Base.Logserver", "--replace", "--out", str(saved))
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)["services"][0]
    assert planned["replace"] is True and planned["changed"] is True
    assert planned["reasons"][0] == "--replace: uninstalled and installed again (server 'LogServer' -> 'Logserver')"
    assert json.loads(saved.read_text())["services"][0]["replace"] is True
    result, services = mono.release("--plan", str(saved))
    assert result.returncode == 0, result.stderr
    assert services["Base.Logserver"]["status"] == "deployed"
    live = mono.cluster.get("TServer", NS, "base-logserver")
    assert live["spec"]["server"] == "Logserver" and live["metadata"]["uid"] != first_uid
    plan = json.loads(mono("plan", "--json", "--service", "Base.Logserver").stdout)
    assert plan["services"][0]["changed"] is False
