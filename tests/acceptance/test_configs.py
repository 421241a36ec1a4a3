"""A service's TConfig versions through its life, against the fake cluster that enforces K8SFramework's
webhooks and TConfig controller (tests/fakes/cluster/webhooks.py), with the real helm: first deploy with
config + nodeConfig + appConfig, rerun, image-only upgrade, config change, a second change within the deletion
guard, nodeConfig removed, config renamed, rollback, prune, and the uninstall of a failed first install."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from clustermono import ClusterMono, sample_in_cluster
from fakes.cluster import Outcome

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
NS = "tars"
CART = "Shop.CartServer"
RELEASE = "shop-cartserver"


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


def configs(mono: ClusterMono) -> list[dict]:
    return [c for c in mono.cluster.objects("TConfig", NS)
            if (c["metadata"].get("labels") or {}).get("tars-tasks.io/release") == RELEASE]


def versions(mono: ClusterMono) -> dict[tuple[str, str], list[tuple[bool, str]]]:
    """(configName, podSeq) -> [(activated, content)] of every live version, oldest first."""
    out: dict[tuple[str, str], list[tuple[bool, str]]] = {}
    for c in sorted(configs(mono), key=lambda c: mono.cluster.first_created("TConfig", c["metadata"]["name"], NS) or 0):
        out.setdefault((c["configName"], c["podSeq"]), []).append((c["activated"], c["configContent"]))
    return out


def settled(mono: ClusterMono) -> dict[tuple[str, str], list[tuple[bool, str]]]:
    """The versions once the framework's controller has deactivated what the webhook marked."""
    mono.cluster.wait_for(lambda: all(sum(a for a, _ in v) == 1 for v in versions(mono).values()) or not configs(mono))
    return versions(mono)


def tconfig_writes(mono: ClusterMono) -> int:
    return sum(1 for c in mono.cluster.changes if c.kind == "TConfig")


def edit(mono: ClusterMono, old: str, new: str) -> None:
    path = mono.root / "services/Shop/CartServer/values.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def release(mono: ClusterMono) -> dict:
    result, services = mono.release("--service", CART)
    assert result.returncode == 0, result.stderr + result.stdout
    return services[CART]


def activate(mono: ClusterMono, name: str) -> None:
    request = urllib.request.Request(f"{mono.cluster.url}/apis/k8s.tars.io/v1beta3/namespaces/{NS}/tconfigs/{name}",
                                     data=b'{"activated": true}', method="PATCH",
                                     headers={"Content-Type": "application/merge-patch+json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


def active(mono: ClusterMono, name: str, pod_seq: str = "m") -> str:
    return next(content for on, content in versions(mono)[(name, pod_seq)] if on)


def test_config_versions_through_a_services_life(mono):
    # first deploy: the master before its per-pod config; who and why on each version
    assert release(mono)["status"] == "deployed"
    got = settled(mono)
    assert set(got) == {("cart.conf", "m"), ("cart.conf", "0"), ("shop.conf", "m")}
    assert all(len(v) == 1 and v[0][0] for v in got.values())
    added = [c.name for c in mono.cluster.changes if c.kind == "TConfig" and c.type == "ADDED"]
    master = next(c["metadata"]["name"] for c in configs(mono) if c["podSeq"] == "m" and c["server"])
    per_pod = next(c["metadata"]["name"] for c in configs(mono) if c["podSeq"] == "0")
    assert added.index(master) < added.index(per_pod)
    assert all(c["updatePerson"] and c["updateReason"] for c in configs(mono))

    # a rerun with nothing changed, and an image-only upgrade, write no TConfig
    writes = tconfig_writes(mono)
    assert mono.release("--service", CART)[1][CART]["status"] == "unchanged"
    mono.change(CART)
    assert release(mono)["status"] == "deployed"
    assert tconfig_writes(mono) == writes

    # a config change is a new activated version; the old one is the framework's history
    edit(mono, "maxItems = 100\n      </cart>\nnodeConfig", "maxItems = 200\n      </cart>\nnodeConfig")
    # diff compares with the activated versions: only the changed config differs (its name and content)
    changed = [line for line in mono("diff", "--service", CART).stdout.splitlines()
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert any("maxItems = 200" in line for line in changed) and any("maxItems = 100" in line for line in changed)
    assert not any("shop.conf" in line or "leader" in line for line in changed), changed
    assert release(mono)["status"] == "deployed"
    got = settled(mono)
    assert [on for on, _ in got[("cart.conf", "m")]] == [False, True]
    assert "maxItems = 200" in active(mono, "cart.conf")
    # a second change within the framework's deletion guard works too
    edit(mono, "maxItems = 200\n      </cart>\nnodeConfig", "maxItems = 300\n      </cart>\nnodeConfig")
    assert release(mono)["status"] == "deployed"
    got = settled(mono)
    assert [on for on, _ in got[("cart.conf", "m")]] == [False, False, True]
    assert "maxItems = 300" in active(mono, "cart.conf")
    status = json.loads(mono("status", "--json", "--service", CART).stdout)["services"][0]
    assert status["verdict"] == "in sync", status  # deactivated versions are history, not drift
    assert mono("diff", "--exit-code", "--service", CART).returncode == 0
    # someone activates an earlier version (as the TARS web console does): that is drift
    first = next(c["metadata"]["name"] for c in configs(mono) if "maxItems = 100" in c["configContent"]
                 and c["podSeq"] == "m")
    activate(mono, first)
    status = json.loads(mono("status", "--json", "--service", CART).stdout)["services"][0]
    assert status["verdict"] == "drifted"
    assert "config cart.conf: another version is activated in the cluster than the deployed " in status["details"][0]
    activate(mono, next(c["metadata"]["name"] for c in configs(mono) if "maxItems = 300" in c["configContent"]))
    settled(mono)

    # nodeConfig removed: every version of the per-pod config goes, the master stays
    path = mono.root / "services/Shop/CartServer/values.yaml"
    text = path.read_text()
    path.write_text(text[:text.index("nodeConfig:")] + text[text.index("appConfig:"):])
    assert release(mono)["status"] == "deployed"
    got = settled(mono)
    assert ("cart.conf", "0") not in got and ("cart.conf", "m") in got

    # config renamed: the old name's versions go (history included), the new one is created
    edit(mono, "  - name: cart.conf", "  - name: basket.conf")
    assert release(mono)["status"] == "deployed"
    mono.cluster.wait_for(lambda: ("cart.conf", "m") not in versions(mono))
    assert set(settled(mono)) == {("basket.conf", "m"), ("shop.conf", "m")}

    # rollback to the revision before the rename: cart.conf (maxItems = 300) active again, basket.conf gone
    back = mono("rollback", "--service", CART, "--json")
    assert back.returncode == 0, back.stderr
    got = settled(mono)
    assert set(got) == {("cart.conf", "m"), ("shop.conf", "m")}
    assert "maxItems = 300" in active(mono, "cart.conf")
    # its versions had gone with the rename: re-created by the rollback, with who and why as at creation
    again = next(c for c in configs(mono) if c["configName"] == "cart.conf")
    shop = next(c for c in configs(mono) if c["configName"] == "shop.conf")
    last = json.loads(mono.helm("history", RELEASE, "-n", NS, "-o", "json"))[-1]
    rolled_to = int(last["description"].removeprefix("Rollback to "))
    assert (again["updatePerson"], again["updateReason"]) == (shop["updatePerson"], f"rollback to revision {rolled_to}")

    # prune: the service is gone from the monorepo; its release and every version of its configs go
    shutil.rmtree(mono.root / "services/Shop/CartServer")
    order = mono.root / "services/Shop/OrderServer/values.yaml"
    order.write_text(order.read_text().replace("  - Shop.CartServer\n", ""))
    pruned = mono("prune", "--yes", "--json")
    assert pruned.returncode == 0, pruned.stderr
    assert not configs(mono)
    assert mono.cluster.get("TServer", NS, RELEASE) is None


@pytest.fixture
def slow_guard(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1, tconfig_guard=6.0) as m:
        yield m


def test_a_failed_first_install_is_uninstalled_with_its_configs_after_the_guard(slow_guard):
    mono = slow_guard
    mono.cluster.set_outcome(mono.image_of(CART), Outcome.crashloop(restart_period=0.2))
    result, services = mono.release("--service", CART, "--cleanup-on-fail", INVOKE_TARS_HELM_TIMEOUT="3s")
    assert result.returncode == 1, result.stderr
    assert services[CART].get("rollout", {}).get("cleanedUp") is True, (services, result.stderr)
    assert "waiting for the framework's deletion guard" in result.stderr
    assert not configs(mono)
    assert mono.cluster.get("TServer", NS, RELEASE) is None


def start(mono: ClusterMono, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=mono.root, env=mono.env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def interrupt_when(proc: subprocess.Popen[str], wanted: str) -> tuple[str, str, float]:
    """SIGINT once ``wanted`` is on stderr; (stdout, stderr, seconds from the signal to the exit)."""
    assert proc.stderr is not None and proc.stdout is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if wanted in line:
            break
    else:
        proc.wait(timeout=60)
        raise AssertionError("".join(seen) + proc.stdout.read())
    proc.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    out, err = proc.communicate(timeout=60)
    return out, "".join(seen) + err, time.monotonic() - signalled


def test_an_interrupted_prune_says_what_is_left_and_a_rerun_removes_it(slow_guard):
    mono = slow_guard
    release(mono)
    shutil.rmtree(mono.root / "services/Shop/CartServer")
    order = mono.root / "services/Shop/OrderServer/values.yaml"
    order.write_text(order.read_text().replace("  - Shop.CartServer\n", ""))
    proc = start(mono, "prune", "--yes")
    out, err, took = interrupt_when(proc, "waiting for the framework's deletion guard")
    assert proc.returncode == 130, err
    assert took < 5, took  # the guard wait stops at the signal
    assert "interrupted: helm release uninstalled; stopped while waiting for the framework's deletion guard; left " \
           "in the cluster: TConfig shop-cartserver-" in out, out
    assert "(a rerun of `invoke prune --yes` removes them)" in out
    left = configs(mono)
    assert left and all(c["metadata"]["name"] in out for c in left)
    # the helm release is gone: the configs are still an orphan of this tool, which a rerun removes
    status = json.loads(mono("status", "--json").stdout)["services"]
    orphan = next(s for s in status if s["release"] == RELEASE)
    assert orphan["verdict"] == "orphan" and orphan["id"] == CART
    assert orphan["details"] == [f"its service and helm release are gone, {len(left)} TConfig version(s) are left "
                                 "(`invoke prune` removes them)"]
    again = mono("prune", "--yes")
    assert again.returncode == 0, again.stderr
    assert RELEASE in again.stdout and "configs removed" in again.stdout
    assert not configs(mono)
    assert mono("prune").stdout == "no orphaned releases\n"


def test_a_deploy_interrupted_in_the_guard_wait_stops_and_says_what_is_left(slow_guard):
    mono = slow_guard
    release(mono)
    edit(mono, "  - name: cart.conf", "  - name: basket.conf")  # cart.conf's versions go, inside their guard
    proc = start(mono, "release", "--json", "--service", CART)
    out, err, took = interrupt_when(proc, "waiting for the framework's deletion guard")
    assert proc.returncode == 130, err
    assert took < 5, took
    service = json.loads(out)["services"][0]
    assert service["status"] == "interrupted"
    assert service["reason"].startswith("deploy: the release is applied; stopped while waiting for the framework's "
                                        "deletion guard; left in the cluster: TConfig shop-cartserver-"), service
    assert service["reason"].endswith(f"(`invoke deploy --service {CART}` removes them)")
    assert "interrupted by SIGINT: 1 service(s) interrupted" in err
    assert ("cart.conf", "m") in versions(mono)
    time.sleep(6)  # the guard is over
    assert mono("deploy", "--service", CART, "--force").returncode == 0  # its dependencies are not deployed here
    assert set(settled(mono)) == {("basket.conf", "m"), ("basket.conf", "0"), ("shop.conf", "m")}
