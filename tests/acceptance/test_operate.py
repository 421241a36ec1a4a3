"""Operating what is deployed, against the fake cluster with the real helm: status verdicts, diff, history,
rollback and prune (tars_tasks/operate). The fixture is the one of test_deploy_tracking.py."""
from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess

import pytest

from clustermono import ClusterMono, helm_binary, sample_in_cluster
from fakes.cluster import Outcome
from fakes.cluster.resources import by_kind

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
NS = "tars"


Mono = ClusterMono


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


def helm(mono: Mono, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, env=mono.env, check=True)


def status_of(mono: Mono, *args: str) -> dict[str, dict]:
    result = mono("status", "--json", *args)
    assert result.returncode == 0, result.stderr
    return {s["id"] or s["release"]: s for s in json.loads(result.stdout)["services"]}


def patch(mono: Mono, kind: str, name: str, change) -> None:
    assert mono.cluster.store.mutate(by_kind(kind), NS, name, change) is not None


def rewrite_record(mono: Mono, name: str, revision: int, change) -> None:
    """Change helm's stored release record (as a killed helm leaves it), status label included."""
    def edit(secret: dict) -> None:
        raw = base64.b64decode(base64.b64decode(secret["data"]["release"]))
        rel = json.loads(gzip.decompress(raw))
        change(rel)
        packed = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
        secret["data"]["release"] = base64.b64encode(packed.encode()).decode()
        secret["metadata"]["labels"]["status"] = rel["info"]["status"]

    patch(mono, "Secret", f"sh.helm.release.v1.{name}.v{revision}", edit)


def test_status_has_a_verdict_for_every_case_and_prune_removes_orphans(mono):
    result, _ = mono.release()
    assert result.returncode == 0, result.stderr
    assert {s["verdict"] for s in status_of(mono).values()} == {"in sync"}

    mono.change("Base.LogServer")  # out of date
    patch(mono, "TServer", "base-authserver", lambda o: o["spec"]["k8s"].update(replicas=5))  # scaled by a person
    hello = mono.cluster.get("TServer", NS, "base-helloserver")["spec"]["release"]
    patch(mono, "TServer", "base-helloserver", lambda o: o["spec"]["release"].update(id="v2"))  # switched
    patch(mono, "Secret", "sh.helm.release.v1.shop-payserver.v1",  # what a failed rollout leaves
          lambda o: o["metadata"]["labels"].update({"tars-tasks.io/rollout-1": "failed"}))
    rewrite_record(mono, "shop-cartserver", 1, lambda rel: rel["info"].update(status="pending-upgrade"))
    helm(mono, "uninstall", "shop-orderserver", "-n", NS)  # missing
    shutil.rmtree(mono.root / "services/Shop/WebGateway")  # orphan

    states = status_of(mono)
    assert {sid: s["verdict"] for sid, s in states.items()} == {
        "Base.AuthServer": "drifted", "Base.HelloServer": "drifted", "Base.LogServer": "out of date",
        "Shop.CartServer": "pending", "Shop.OrderServer": "missing", "Shop.PayServer": "failed",
        "Shop.WebGateway": "orphan"}
    auth, hello_state, log = states["Base.AuthServer"], states["Base.HelloServer"], states["Base.LogServer"]
    assert auth["details"] == ["replicas 5 live, 2 declared"]
    assert (auth["replicas_live"], auth["replicas_declared"]) == (5, 2)
    assert hello_state["details"] == [f"release id v2 in the cluster, {hello['id']} deployed by tars-tasks"]
    assert log["details"] == [f"cluster runs {log['chart']}, git would deploy {log['wanted_chart']}"]
    assert log["chart"] != log["wanted_chart"] and log["revision"] == 1 and log["helm_status"] == "deployed"
    assert log["image"] != log["wanted_image"] and log["image"].rsplit(":", 1)[0] == log["wanted_image"].rsplit(":", 1)[0]
    assert (log["pods_ready"], log["pods_desired"], log["worst_pod"]) == (2, 2, "")
    assert states["Shop.PayServer"]["details"] == ["revision 1: its rollout failed"]
    assert states["Shop.CartServer"]["helm_status"] == "pending-upgrade"
    assert states["Shop.CartServer"]["details"][0].startswith("helm release shop-cartserver is pending-upgrade since ")
    assert states["Shop.OrderServer"]["details"] == ["not deployed in namespace tars"]
    assert states["Shop.WebGateway"]["release"] == "shop-webgateway"

    table = mono("status").stdout
    assert "Base.AuthServer   drifted" in table and "5/2" in table
    assert "1 drifted" not in table and "2 drifted, 1 failed, 1 missing, 1 orphan, 1 out of date, 1 pending" in table
    only = status_of(mono, "--service", "Base.LogServer")
    assert list(only) == ["Base.LogServer"]  # no orphans when services are named

    listed = mono("prune")
    assert listed.returncode == 0, listed.stderr
    assert "shop-webgateway" in listed.stdout and "kept (add --yes to uninstall)" in listed.stdout
    assert mono.cluster.get("TServer", NS, "shop-webgateway") is not None
    pruned = mono("prune", "--yes", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert json.loads(pruned.stdout)["orphans"] == [{"release": "shop-webgateway", "id": "Shop.WebGateway",
                                                     "chart": states["Shop.WebGateway"]["chart"],
                                                     "uninstalled": True, "error": ""}]
    assert mono.cluster.get("TServer", NS, "shop-webgateway") is None
    assert mono("prune").stdout == "no orphaned releases\n"


def test_diff_shows_a_changed_config_with_secrets_masked(mono):
    cart = mono.root / "services/Shop/CartServer/values.yaml"
    cart.write_text(cart.read_text().replace("maxItems = 100\n      </cart>\nnodeConfig",
                                             "maxItems = 100\n        db_password = hunter2\n      </cart>\nnodeConfig"))
    result, _ = mono.release()
    assert result.returncode == 0, result.stderr
    same = mono("diff", "--exit-code")
    assert (same.returncode, same.stdout, same.stderr.strip()) == (0, "", "no differences")

    cart.write_text(cart.read_text().replace("maxItems = 100\n        db_password = hunter2",
                                             "maxItems = 200\n        db_password = swordfish"))
    changed = mono("diff", "--exit-code")
    assert changed.returncode == 1
    out = changed.stdout
    assert out.startswith("=== Shop.CartServer (out of date)\n--- shop-cartserver (helm revision 1)\n"
                          "+++ shop-cartserver (this checkout)\n")
    assert "-  <cart>\n    maxItems = 100\n    db_password = ***\n  </cart>\n" in out or \
        "-configContent: \"<cart>\\n  maxItems = 100\\n  db_password = ***\\n</cart>\\n\"" in out, out
    assert "+configContent: \"<cart>\\n  maxItems = 200\\n  db_password = ***\\n</cart>\\n\"" in out, out
    assert "hunter2" not in out and "swordfish" not in out
    assert "Base." not in out  # unchanged services show nothing
    assert mono("diff").returncode == 0  # --exit-code is opt-in


def test_history_and_rollback_to_a_chosen_revision_ends_ready(mono):
    first = mono.image_of("Base.LogServer")
    for n in range(3):
        if n:
            (mono.root / "services/Base/LogServer/changed.txt").write_text(f"release {n}\n")
        result, _ = mono.release("--service", "Base.LogServer")
        assert result.returncode == 0, result.stderr
    history = json.loads(mono("history", "--service", "Base.LogServer", "--json").stdout)["revisions"]
    assert [(r["revision"], r["status"]) for r in history] == [(1, "superseded"), (2, "superseded"), (3, "deployed")]
    assert history[0]["image_tag"] == first.rsplit(":", 1)[1]
    assert all(r["chart"].startswith("base-logserver-") for r in history)
    table = mono("history", "--service", "Base.LogServer").stdout
    assert table.splitlines()[0].split() == ["REVISION", "UPDATED", "STATUS", "CHART", "IMAGE", "TAG", "DESCRIPTION"]

    result = mono("rollback", "--service", "Base.LogServer", "--to", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["services"][0]
    assert report["status"] == "deployed" and report["image"] == first
    assert report["rollout"]["state"] == "ready" and report["rollout"]["rolledBackTo"] == 1
    assert report["rollout"]["ready"] == report["rollout"]["desired"] == 2
    assert report["reason"] == "rolled back to revision 1: ready 2/2"
    workload = mono.cluster.get("StatefulSet", NS, "base-logserver")
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == first
    # default: the previous revision that ran (3, before the rollback made revision 4)
    again = mono("rollback", "--service", "Base.LogServer", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["services"][0]["rollout"]["rolledBackTo"] == 3
    bad = mono("rollback", "--service", "Base.LogServer", "--to", "9")
    assert bad.returncode == 2 and "--to 9: no such revision (known: 1, 2, 3, 4, 5)" in bad.stderr


def test_rollback_that_does_not_become_ready_fails(mono):
    result, _ = mono.release("--service", "Base.LogServer")
    assert result.returncode == 0, result.stderr
    mono.change("Base.LogServer")
    assert mono.release("--service", "Base.LogServer")[0].returncode == 0
    old = json.loads(mono("history", "--service", "Base.LogServer", "--json").stdout)["revisions"][0]
    mono.cluster.set_outcome(f"{mono.image_of('Base.LogServer').rsplit(':', 1)[0]}:{old['image_tag']}",
                             Outcome.imagepull(delay=0.1))
    result = mono("rollback", "--service", "Base.LogServer", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)["services"][0]
    assert report["status"] == "failed" and "ImagePullBackOff" in report["reason"]
    assert report["reason"].startswith("rolled back to revision 1: cannot become ready")


def test_what_the_frameworks_webhook_sets_is_no_drift_in_diff(mono):
    """Shop.PayServer has hostPorts: the framework's mutating webhook sets its TServer's notStacked (the chart
    renders false), which is not drift (tars_tasks/operate/admitted.py); a real change of the live TServer is."""
    result, _ = mono.release("--service", "Base.HelloServer", "--service", "Shop.PayServer")
    assert result.returncode == 0, result.stderr
    assert mono.cluster.get("TServer", NS, "shop-payserver")["spec"]["k8s"]["notStacked"] is True
    pay = mono.root / "services/Shop/PayServer/values.yaml"
    pay.write_text(pay.read_text().replace("replicas: 1\n", "replicas: 3\n"))
    out = mono("diff", "--service", "Shop.PayServer").stdout
    assert "-    replicas: 1\n+    replicas: 3\n" in out, out
    assert not [line for line in out.splitlines() if "notStacked" in line and line[:1] in "+-"], out
    assert "TServer/shop-payserver (live)" not in out, out
    patch(mono, "TServer", "shop-payserver", lambda ts: ts["spec"]["k8s"].update(notStacked=False))
    out = mono("diff", "--service", "Shop.PayServer").stdout
    assert "-    notStacked: true\n+    notStacked: false\n" in out, out
