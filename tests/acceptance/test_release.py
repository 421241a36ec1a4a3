"""`invoke release / deploy / plan` end to end: real docker, registry and helm; a recording stand-in for the
cluster side of helm (tests/fakes/helm), since no Kubernetes runs here."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import Cli

from support import REPO_ROOT, TEST_BASE_IMAGE, copy_samples, init_git, sample_environments, tool_images
from tars_tasks.core.settings import SERVER_TYPES

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

FAKE_HELM = REPO_ROOT / "tests" / "fakes" / "helm"
WAVES = [["Base.AuthServer", "Base.LogServer"], ["Base.HelloServer"], ["Shop.CartServer", "Shop.PayServer"],
         ["Shop.OrderServer"], ["Shop.WebGateway"]]
DEPS = {"Base.HelloServer": ["Base.LogServer"], "Shop.CartServer": ["Base.HelloServer", "Base.AuthServer"],
        "Shop.OrderServer": ["Shop.CartServer", "Base.LogServer"], "Shop.PayServer": ["Base.HelloServer"],
        "Shop.WebGateway": ["Shop.OrderServer", "Shop.PayServer"]}


class Cluster:
    def __init__(self, state: Path, helm_bin: str):
        self.state = state
        state.mkdir(parents=True, exist_ok=True)
        self.env = {"FAKE_HELM_DIR": str(state), "FAKE_HELM_REAL": helm_bin, "INVOKE_TARS_HELM": str(FAKE_HELM)}

    def calls(self) -> list[dict]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def upgrades(self) -> dict[str, dict]:
        return {c["argv"][2]: c for c in self.calls() if c["argv"][:2] == ["upgrade", "--install"]}

    def reset_calls(self) -> None:
        (self.state / "calls.jsonl").unlink(missing_ok=True)

    def releases(self) -> dict:
        path = self.state / "releases.json"
        return json.loads(path.read_text()) if path.exists() else {}


def write_settings(root: Path, registry: str, jobs: int = 4) -> None:
    images = "\n".join(f"    {t}: {TEST_BASE_IMAGE}" for t in SERVER_TYPES)
    (root / "invoke.yaml").write_text(f"tars:\n  registry: {registry}\n  namespace: shop\n  jobs: \"{jobs}\"\n"
                                      f"  helm_timeout: 2m\n  base_images:\n{images}\n" + sample_environments())


@pytest.fixture
def cluster(tmp_path, helm_bin) -> Cluster:
    return Cluster(tmp_path / "cluster", helm_bin)


@pytest.fixture
def home(registry, namespace) -> str:
    """The `registry` setting of one test: its own namespace in the session's registry."""
    return f"{registry.host}/{namespace}"


@pytest.fixture
def mono(tmp_path, home, test_base_image, cluster):
    root = copy_samples(tmp_path / "mono")
    write_settings(root, home)
    (root / ".gitignore").write_text("dist/\n")
    init_git(root)
    cli = Cli(root)

    def run(*args, env=None):
        # the recording helm has no cluster behind it: deploys here are helm's own (--no-wait); rollout tracking is
        # tested against the fake cluster (test_deploy_tracking.py)
        untracked = ("--no-wait",) if args and args[0] in ("release", "deploy") else ()
        return cli(*args, *untracked, env={**cluster.env, **(env or {})})

    run.root = root
    return run


def report_of(result) -> dict:
    return {s["id"]: s for s in json.loads(result.stdout)["services"]}


def test_plan_json_on_sample(mono, home):
    result = mono("plan", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["waves"] == WAVES
    by_id = {s["id"]: s for s in plan["services"]}
    assert set(by_id) == {sid for wave in WAVES for sid in wave}
    for wave_no, wave in enumerate(WAVES):
        for sid in wave:
            s = by_id[sid]
            assert {"id", "changed", "reasons", "steps", "image", "wave"} <= set(s)
            assert s["wave"] == wave_no and s["changed"] is True
            assert s["reasons"][0] == "not deployed in namespace shop"
            assert s["reasons"][1] == "image tag not in registry"
            assert s["steps"] == ["build", "push", "chart", "deploy"]
            assert s["image"].startswith(f"{home}/{sid.split('.')[0].lower()}/") and ":" in s["image"].rsplit("/", 1)[1]


def test_release_order_failure_isolation_and_rerun(mono, cluster, registry):
    # first release: Base.HelloServer's deploy fails
    first = mono("release", "--json", env={"FAKE_HELM_FAIL": "base-helloserver", "FAKE_HELM_DELAY": "0.3"})
    assert first.returncode == 1
    assert "Traceback" not in first.stderr
    rep = report_of(first)
    assert {k: v["status"] for k, v in rep.items()} == {
        "Base.AuthServer": "deployed", "Base.LogServer": "deployed", "Base.HelloServer": "failed",
        "Shop.CartServer": "skipped", "Shop.PayServer": "skipped", "Shop.OrderServer": "skipped",
        "Shop.WebGateway": "skipped"}
    assert rep["Base.HelloServer"]["reason"].startswith("deploy: `")
    assert "UPGRADE FAILED" in rep["Base.HelloServer"]["reason"]
    assert rep["Shop.CartServer"]["reason"] == "because Base.HelloServer failed or was skipped"
    assert rep["Shop.WebGateway"]["reason"].startswith("because Shop.")
    # every image was still built and pushed (builds do not wait for deploys)
    assert {k: (r["build"] or {}).get("status") for k, r in rep.items()} == {k: "pushed" for k in rep}
    upgrades = cluster.upgrades()
    assert set(upgrades) == {"base-authserver", "base-logserver", "base-helloserver"}
    # the helm calls operators expect
    argv = upgrades["base-authserver"]["argv"]
    assert argv[:5] == ["upgrade", "--install", "base-authserver", argv[3], "--namespace"]
    assert argv[3].endswith(".tgz") and "shop" in argv and "--wait" in argv
    assert "--rollback-on-failure" in argv or "--atomic" in argv
    assert argv[argv.index("--timeout") + 1] == "2m"
    # rerun: only what did not finish is redone
    cluster.reset_calls()
    second = mono("release", "--json", env={"FAKE_HELM_DELAY": "0.3"})
    assert second.returncode == 0, second.stderr
    rep2 = report_of(second)
    assert rep2["Base.AuthServer"]["status"] == "unchanged" and rep2["Base.LogServer"]["status"] == "unchanged"
    redone = {"Base.HelloServer", "Shop.CartServer", "Shop.PayServer", "Shop.OrderServer", "Shop.WebGateway"}
    assert {k for k, v in rep2.items() if v["status"] == "deployed"} == redone
    assert all(rep2[s]["build"] is None for s in redone)  # the registry has the images: no image step
    calls = cluster.upgrades()
    assert set(calls) == {"base-helloserver", "shop-cartserver", "shop-payserver", "shop-orderserver", "shop-webgateway"}
    # dependency order: no deploy starts before its dependencies' deploys end
    by_release = {sid: calls[f"{sid.split('.')[0].lower()}-{sid.split('.')[1].lower()}"] for sid in redone}
    for sid in redone:
        for dep in DEPS[sid]:
            if dep in by_release:
                assert by_release[sid]["start"] >= by_release[dep]["end"], (sid, dep)
    # CartServer and PayServer (both only need HelloServer) overlap
    cart, pay = by_release["Shop.CartServer"], by_release["Shop.PayServer"]
    assert cart["start"] < pay["end"] and pay["start"] < cart["end"]
    # third run: nothing to do, zero upgrades, zero builds
    cluster.reset_calls()
    third = mono("release", "--json")
    assert third.returncode == 0
    assert {v["status"] for v in report_of(third).values()} == {"unchanged"}
    assert cluster.upgrades() == {}
    # what the cluster runs: one helm call (what tracking proved is read from helm's records by one list call)
    assert [(c["argv"][0], "--selector" in c["argv"]) for c in cluster.calls()] == [("list", False)]


def test_changed_service_redeploys_and_dependents_only_with_flag(mono, cluster):
    assert mono("release").returncode == 0
    path = mono.root / "services/Shop/CartServer/index.js"
    path.write_text(path.read_text() + "// tweak\n")
    plan = json.loads(mono("plan", "--json").stdout)
    changed = {s["id"]: s for s in plan["services"] if s["changed"]}
    assert list(changed) == ["Shop.CartServer"]
    assert changed["Shop.CartServer"]["reasons"][0].startswith("cluster runs an older release (shop-cartserver-")
    assert changed["Shop.CartServer"]["steps"] == ["build", "push", "chart", "deploy"]
    plan2 = json.loads(mono("plan", "--json", "--with-dependents").stdout)
    assert sorted(s["id"] for s in plan2["services"] if s["changed"]) == [
        "Shop.CartServer", "Shop.OrderServer", "Shop.WebGateway"]
    dependent = next(s for s in plan2["services"] if s["id"] == "Shop.OrderServer")
    assert dependent["steps"] == ["chart", "deploy"]  # its image did not change: no build
    assert dependent["reasons"] == ["depends on changed Shop.CartServer"]


def test_parallel_independent_deploys(tmp_path, home, test_base_image, cluster):
    root = tmp_path / "many"
    for i in range(8):
        d = root / "services" / f"S{i}"
        d.mkdir(parents=True)
        (d / "values.yaml").write_text(f"app: Par\nserver: S{i}\ntemplate: tars.cpp\nservants: [{{name: O, port: {10000 + i}}}]\n")
        (d / "run.sh").write_text(f"echo {i}\n")
    (root / "tasks.py").write_text((REPO_ROOT / "tasks.py").read_text())
    write_settings(root, home, jobs=4)
    init_git(root)
    assert Cli(root)("build", env=cluster.env).returncode == 0  # images first: measure the deploys alone
    result = Cli(root)("release", "--json", "--no-wait", env={**cluster.env, "FAKE_HELM_DELAY": "1.0"})
    assert result.returncode == 0, result.stderr
    ups = list(cluster.upgrades().values())
    assert len(ups) == 8
    assert all(r["build"] is None for r in report_of(result).values())
    # --jobs 4: four deploys run at once (each takes a second), never more
    running = [sum(u["start"] <= t < u["end"] for u in ups) for t in (u["start"] for u in ups)]
    assert max(running) == 4, running


def test_unreachable_cluster_is_an_error_before_any_work(mono, cluster, docker_client, home):
    result = mono("release", env={"FAKE_HELM_UNREACHABLE": "1"})
    assert result.returncode == 2
    assert "cluster not reachable (use --dry-run to work without one)" in result.stderr
    assert "Traceback" not in result.stderr
    assert [c["argv"][0] for c in cluster.calls()] == ["list"]
    assert tool_images(docker_client, home + "/") == []  # nothing built


def test_dry_run_builds_locally_renders_and_applies_nothing(mono, cluster, registry, docker_client, home):
    (mono.root / "services/Base/AuthServer/AuthServer").write_text("#!/bin/sh\necho dry-run only\n")
    result = mono("release", "--dry-run", "--json", env={"FAKE_HELM_UNREACHABLE": "1"})
    assert result.returncode == 0, result.stderr
    rep = report_of(result)
    assert {v["status"] for v in rep.values()} == {"dry-run"}
    assert {k: v["build"]["status"] for k, v in rep.items()} == {k: "built" for k in rep}  # locally, not pushed
    for v in rep.values():
        assert registry.tags(v["image"].split("/", 1)[1].rsplit(":", 1)[0]) == []
    assert tool_images(docker_client, home + "/") == sorted(v["image"] for v in rep.values())
    assert cluster.upgrades() == {}
    assert {c["argv"][0] for c in cluster.calls()} <= {"list", "template", "lint"}
    # the charts are checked in one batch: one render of all of them, one lint of all of them
    assert sorted(c["argv"][0] for c in cluster.calls() if c["argv"][0] != "list") == ["lint", "template"]
    [lint] = [c["argv"] for c in cluster.calls() if c["argv"][0] == "lint"]
    assert sorted(a for a in lint if a.endswith(".tgz")) == sorted(v["chart"] for v in rep.values())
    assert all(Path(v["chart"]).is_file() for v in rep.values())


def test_saved_plan_runs_exactly_and_refuses_stale_inputs(mono, cluster):
    assert mono("plan", "--out", "plan.json", "--service", "Base.AuthServer", "--service", "Base.LogServer").returncode == 0
    result = mono("release", "--plan", "plan.json", "--json")
    assert result.returncode == 0, result.stderr
    assert set(report_of(result)) == {"Base.AuthServer", "Base.LogServer"}
    assert set(cluster.upgrades()) == {"base-authserver", "base-logserver"}
    (mono.root / "services/Base/AuthServer/AuthServer").write_text("#!/bin/sh\necho changed\n")
    stale = mono("release", "--plan", "plan.json")
    assert stale.returncode == 1
    assert "files changed since the plan was made (Base.AuthServer); make a new plan" in stale.stderr


def test_deploy_with_deps_and_fail_fast(mono, cluster):
    result = mono("deploy", "--service", "Shop.CartServer", "--with-deps", "--json")
    assert result.returncode == 0, result.stderr
    assert set(report_of(result)) == {"Shop.CartServer", "Base.HelloServer", "Base.AuthServer", "Base.LogServer"}
    ups = cluster.upgrades()
    assert ups["shop-cartserver"]["start"] >= max(ups["base-helloserver"]["end"], ups["base-authserver"]["end"])
    assert ups["base-helloserver"]["start"] >= ups["base-logserver"]["end"]
    cluster.reset_calls()
    same = mono("deploy", "--service", "Shop.CartServer", "--with-deps", "--json")
    assert report_of(same)["Shop.CartServer"]["status"] == "unchanged"  # the cluster runs it: nothing to do
    assert cluster.upgrades() == {}
    again = mono("deploy", "--service", "Shop.CartServer", "--with-deps", "--force", "--json")
    assert report_of(again)["Shop.CartServer"]["status"] == "deployed"  # --force: deployed again
    assert report_of(again)["Base.HelloServer"]["status"] == "unchanged"  # dependencies only when changed
    assert set(cluster.upgrades()) == {"shop-cartserver"}
    cluster.reset_calls()
    ff = mono("release", "--all", "--fail-fast", "--jobs", "1", "--json", env={"FAKE_HELM_FAIL": "base-authserver"})
    assert ff.returncode == 1
    rep = report_of(ff)
    assert rep["Base.AuthServer"]["status"] == "failed"
    assert {v["status"] for k, v in rep.items() if k != "Base.AuthServer"} <= {"skipped", "deployed"}
    assert any(v["reason"] == "--fail-fast after Base.AuthServer failed" for v in rep.values())


def test_since_on_real_git_history(mono):
    root = mono.root
    (root / "services/Shop/PayServer/index.php").write_text("<?php echo 'v2';\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "pay v2"], cwd=root, check=True)
    (root / "services/libs/common/money.js").write_text("module.exports = {};\n")  # uncommitted change
    plan = json.loads(mono("plan", "--since", "HEAD~1", "--json", "--dry-run").stdout)
    changed = {s["id"]: s["reasons"] for s in plan["services"] if s["changed"]}
    assert changed == {
        "Shop.PayServer": ["changed since HEAD~1: services/Shop/PayServer/index.php", "image tag not in registry"],
        "Shop.CartServer": ["changed since HEAD~1: services/libs/common/money.js", "image tag not in registry"],
        "Shop.WebGateway": ["changed since HEAD~1: services/libs/common/money.js", "image tag not in registry"],
    }
    with_deps = json.loads(mono("plan", "--since", "HEAD~1", "--json", "--dry-run", "--with-dependents").stdout)
    assert sorted(s["id"] for s in with_deps["services"] if s["changed"]) == [
        "Shop.CartServer", "Shop.OrderServer", "Shop.PayServer", "Shop.WebGateway"]


def test_since_in_shallow_clone_without_ref_is_clear(mono, tmp_path):
    root = mono.root
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "2"],
                   cwd=root, check=True)
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{root}", str(clone)], check=True)
    (clone / "invoke.yaml").write_text((root / "invoke.yaml").read_text())
    result = Cli(clone)("plan", "--since", "HEAD~1", "--dry-run")
    assert result.returncode == 2
    assert "--since HEAD~1: no such commit in this clone. This is a shallow clone" in result.stderr


def test_build_task_end_to_end(mono, registry, namespace):
    result = mono("build", "--service", "Base.AuthServer", "--service", "Base.LogServer", "--json")
    assert result.returncode == 0, result.stderr
    images = {i["service"]: i for i in json.loads(result.stdout)["images"]}
    assert set(images) == {"Base.AuthServer", "Base.LogServer"}
    assert {k: i["status"] for k, i in images.items()} == {"Base.AuthServer": "pushed", "Base.LogServer": "pushed"}
    assert registry.tags(f"{namespace}/base/authserver") == sorted(
        [images["Base.AuthServer"]["image"].rsplit(":", 1)[1], "latest-cache"])  # + BuildKit's cache tag
    assert images["Base.AuthServer"]["engine"] == f"{os.environ.get('DOCKER_HOST') or 'unix:///var/run/docker.sock'} (BuildKit)"
    assert "Base.AuthServer: " in result.stderr  # one progress/result line per service
    again = mono("build", "--service", "Base.AuthServer", "--json")
    assert json.loads(again.stdout)["images"][0]["status"] == "exists"
    assert "is in the registry: not built" in again.stderr
    values = mono.root / "services/Base/AuthServer/values.yaml"
    values.write_text(values.read_text().replace('  files: ["AuthServer"]', '  files: ["AuthServer"]\n  command: ["false"]'))
    failed = mono("build", "--service", "Base.AuthServer")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "build.command 'false' failed (exit 1)" in failed.stderr


def test_one_bad_file_means_nothing_is_released(mono, cluster, docker_client, home):
    path = mono.root / "services/Shop/PayServer/values.yaml"
    path.write_text(path.read_text().replace("port: 13000\nhostNetwork", "port: 70000\nhostNetwork"))
    result = mono("release")
    assert result.returncode == 1
    assert "services/Shop/PayServer/values.yaml:6:11: servants[0].port: 70000 is greater than 65535" in result.stderr
    assert "Traceback" not in result.stderr
    assert cluster.calls() == []  # not even a plan against the cluster
    assert tool_images(docker_client, home + "/") == []  # nothing built
