"""Charts: rendered manifests are valid CRDs, upstream's chart bugs are absent, packaging is reproducible."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from support import CRDS_DIR, REPO_ROOT, sample_envs
from tars_tasks.chart.config_names import rendered
from tars_tasks.chart.package import assemble, chart_values, package, tgz_bytes
from tars_tasks.core import assets
from tars_tasks.core.helm import Helm
from tars_tasks.validate.conformance import crd_problems, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "valid"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-.]+)?$")
RELEASE_ID = re.compile(r"^([0-9A-Za-z][-_.0-9A-Za-z]*)?[0-9A-Za-z]$")


def load_one(repo, text: str, **settings):
    repo.write("services/S/values.yaml", text)
    repo.write("services/libs/common.h", "int x;\n")  # the build.inputs of the tricky files: one file at least
    project = repo.load(**settings)
    project.require_valid()
    return project, project.services[0]


def render(helm_bin, project, service, tag="t1", tmp=None, extra: tuple[str, ...] = ()) -> list[dict]:
    _, path = package(service, project.settings, tag, tmp or project.settings.dist_path / "charts")
    out = Helm(helm_bin).run(["template", service.name, str(path), "--namespace", "tars", *extra]).stdout
    return parse(out)


def kinds(docs, kind):
    return [d for d in docs if d["kind"] == kind]


TRICKY_FILES = sorted(DATA.glob("*.yaml"))
SAMPLE_IDS = sorted(["Base.HelloServer", "Base.LogServer", "Base.AuthServer", "Shop.CartServer", "Shop.OrderServer",
                     "Shop.PayServer", "Shop.WebGateway"])


def test_sample_ids_are_all_covered():
    from tars_tasks.core.settings import Settings
    from tars_tasks.project import Project

    assert sorted(s.id for s in Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs()})).services) == SAMPLE_IDS


@pytest.mark.parametrize("api", ["v1beta3", "v1beta2"])
@pytest.mark.parametrize("sid", SAMPLE_IDS)
def test_every_sample_renders_valid_crds(helm_bin, sid, api, tmp_path):
    from tars_tasks.core.settings import Settings
    from tars_tasks.project import Project

    project = Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs(), "api_version": f"k8s.tars.io/{api}"}))
    docs = render(helm_bin, project, project.by_id()[sid], tmp=tmp_path)
    assert {d["kind"] for d in docs} >= {"TServer", "TImage"}
    assert all(d["apiVersion"] == f"k8s.tars.io/{api}" for d in docs)
    assert crd_problems(docs, CRDS_DIR) == []


@pytest.mark.parametrize("api", ["v1beta3", "v1beta2"])
@pytest.mark.parametrize("path", TRICKY_FILES, ids=lambda p: p.name)
def test_every_tricky_file_renders_valid_crds(repo, helm_bin, path, api):
    project, service = load_one(repo, path.read_text(), api_version=f"k8s.tars.io/{api}")
    docs = render(helm_bin, project, service)
    assert {d["kind"] for d in docs} >= {"TServer", "TImage"}
    assert all(d["apiVersion"] == f"k8s.tars.io/{api}" for d in docs)
    assert crd_problems(docs, CRDS_DIR) == []


def test_crd_check_catches_an_invalid_tserver():
    bad = {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TServer", "metadata": {"name": "a-b"},
           "spec": {"app": "A", "server": "B", "subType": "tars", "k8s": {"hostNetwork": None},
                    "tars": {"template": "tars.cpp", "servants": []}}}
    assert crd_problems([bad], CRDS_DIR) == ["TServer/a-b: spec.k8s.hostNetwork: None is not of type 'boolean'"]


def test_label_match_becomes_node_selector(repo, helm_bin):
    project, service = load_one(repo, (DATA / "labelmatch.yaml").read_text())
    tserver = kinds(render(helm_bin, project, service), "TServer")[0]
    assert tserver["spec"]["k8s"]["nodeSelector"] == [
        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
        {"key": "tars.io/zone", "operator": "NotIn", "values": ["z1", "z2"]},
        {"key": "tars.io/ssd", "operator": "Exists"},
        {"key": "tars.io/maintenance", "operator": "DoesNotExist"},
        {"key": "tars.io/cores", "operator": "Gt", "values": ["8"]},
        {"key": "tars.io/load", "operator": "Lt", "values": ["90"]},
    ]


def test_host_network_and_ipc_are_booleans_when_omitted(repo, helm_bin):
    project, service = load_one(repo, (DATA / "minimal.yaml").read_text())
    k8s = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]["k8s"]
    assert k8s["hostNetwork"] is False and k8s["hostIPC"] is False
    assert k8s["notStacked"] is False and k8s["daemonSet"] is False and k8s["replicas"] == 1


def test_host_network_true_is_kept(repo, helm_bin):
    project, service = load_one(repo, (DATA / "maximal.yaml").read_text())
    k8s = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]["k8s"]
    assert k8s["hostNetwork"] is True and k8s["hostIPC"] is True
    assert k8s["hostPorts"] == [{"nameRef": "MaxObj", "port": 20000}, {"nameRef": "MaxHttpObj", "port": 20001}]


def test_subtype_normal_renders_normal_ports(repo, helm_bin):
    project, service = load_one(repo, (DATA / "normal.yaml").read_text())
    spec = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]
    assert spec["subType"] == "normal" and "tars" not in spec
    assert spec["normal"]["ports"] == [{"name": "http", "port": 8080, "isTcp": True},
                                       {"name": "metrics", "port": 9100, "isTcp": True}]
    assert spec["k8s"]["replicas"] == 0


def test_user_update_strategy_renders(repo, helm_bin):
    project, service = load_one(repo, (DATA / "maximal.yaml").read_text())
    k8s = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]["k8s"]
    assert k8s["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 3}}
    assert k8s["resources"] == {"requests": {"cpu": "250m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}


def test_every_field_of_the_maximal_file_is_mapped(repo, helm_bin):
    project, service = load_one(repo, (DATA / "maximal.yaml").read_text())
    docs = render(helm_bin, project, service, tag="v1.2.3")
    spec = kinds(docs, "TServer")[0]["spec"]
    assert spec["important"] == 5 and spec["tars"]["asyncThread"] == 50
    assert spec["tars"]["profile"].startswith("<tars>")
    assert spec["tars"]["servants"][1] == {"name": "MaxHttpObj", "port": 10001, "thread": 1, "capacity": 1,
                                           "connection": 1, "timeout": -1, "isTars": False, "isTcp": False}
    env = {e["name"]: e for e in spec["k8s"]["env"]}
    assert list(env) == ["Namespace", "PodName", "PodIP", "ServerApp", "LOG_LEVEL", "NODE_NAME"]
    assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    k8s = spec["k8s"]
    assert (k8s["abilityAffinity"], k8s["notStacked"], k8s["imagePullPolicy"], k8s["launcherType"],
            k8s["podManagementPolicy"], k8s["serviceAccount"]) == (
        "ServerRequired", True, "IfNotPresent", "foreground", "OrderedReady", "max-sa")
    assert [m["name"] for m in k8s["mounts"]] == ["host-log-dir", "data"]
    assert spec["release"] == {"id": "v1.2.3", "image": "127.0.0.1:5000/max/maxserver:v1.2.3", "secret": "max-secret"}
    image = kinds(docs, "TImage")[0]
    assert image["releases"] == [{"id": "v1.2.3", "image": "127.0.0.1:5000/max/maxserver:v1.2.3", "secret": "max-secret"}]
    assert image["supportedType"] == ["cpp"] and image["imageType"] == "server"


def test_every_mount_kind_is_carried(repo, helm_bin):
    project, service = load_one(repo, (DATA / "mounts.yaml").read_text())
    mounts = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]["k8s"]["mounts"]
    by_name = {m["name"]: m for m in mounts}
    assert by_name["host-log-dir"]["source"]["hostPath"]["path"] == "/usr/local/app/tars/app_log"
    assert by_name["local"] == {"name": "local", "mountPath": "/local", "subPathExpr": "$(PodName)",
                                "source": {"tLocalVolume": {"uid": "1000", "gid": "100", "mode": "750"}}}
    assert by_name["claim"]["source"] == {"persistentVolumeClaim": {"claimName": "shared-data", "readOnly": True}}
    assert set(by_name) == {"host-log-dir", "host", "claim", "local", "local-default", "scratch", "cm", "sec", "template"}


def test_tconfig_per_entry_with_content_stable_names(repo, helm_bin, tmp_path):
    text = (REPO_ROOT / "services/Shop/CartServer/values.yaml").read_text().replace("services/libs/common", "services/libs")
    text = text[:text.index("dependsOn:")] + text[text.index("build:"):]
    project, service = load_one(repo, text)
    first = kinds(render(helm_bin, project, service, tmp=tmp_path / "a"), "TConfig")
    again = kinds(render(helm_bin, project, service, tmp=tmp_path / "b"), "TConfig")
    assert [c["metadata"]["name"] for c in first] == [c["metadata"]["name"] for c in again]
    got = sorted((c["server"], c["configName"], c["podSeq"]) for c in first)
    assert got == [("", "shop.conf", "m"), ("CartServer", "cart.conf", "0"), ("CartServer", "cart.conf", "m")]
    for c in first:  # versions: never a hook, never deleted by helm, nothing that varies per release
        assert c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert "helm.sh/hook" not in c["metadata"]["annotations"]
        assert "updateReason" not in c and "updatePerson" not in c
        assert re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", c["metadata"]["name"])
    # a rollback renders a revision's versions from its values (chart/config_names.py): the same objects
    assert rendered(chart_values(service, project.settings, "t1"), "shop-cartserver", "tars") == first
    # a deploy keeps them apart from the helm release
    apart = render(helm_bin, project, service, tmp=tmp_path / "d", extra=("--set", "tarsTasks.configsApart=true"))
    assert kinds(apart, "TConfig") == [] and kinds(apart, "TServer")
    # new content -> new name for that entry only
    repo.write("services/S/values.yaml", text.replace("currency = EUR", "currency = USD"))
    project2 = repo.load()
    changed = kinds(render(helm_bin, project2, project2.services[0], tmp=tmp_path / "c"), "TConfig")
    old = {c["configName"] + c["podSeq"] + c["server"]: c["metadata"]["name"] for c in first}
    new = {c["configName"] + c["podSeq"] + c["server"]: c["metadata"]["name"] for c in changed}
    assert old["shop.confm"] != new["shop.confm"]
    assert old["cart.conf0CartServer"] == new["cart.conf0CartServer"]


def test_chart_version_is_semver_and_follows_the_release(repo):
    project, service = load_one(repo, (DATA / "minimal.yaml").read_text())
    a = assemble(service, project.settings, "abc123")
    b = assemble(service, project.settings, "abc124")
    c = assemble(service, project.settings, "v2.1.0")
    assert a.version != b.version and a.version != "1.0.0"
    assert all(SEMVER.match(x.version) for x in (a, b, c))
    assert c.version.startswith("2.1.0-")
    assert assemble(service, project.settings, "abc123").version == a.version


@pytest.mark.parametrize("tag", ["Feature_Branch+build/7", "x" * 200, "v1.0.0", "__odd__"])
def test_image_tag_and_release_id_are_sanitised(repo, tag):
    project, service = load_one(repo, (DATA / "minimal.yaml").read_text())
    chart = assemble(service, project.settings, tag)
    image_tag = chart.image.rsplit(":", 1)[1]
    assert re.match(r"^[a-z0-9][a-z0-9.-]*$", image_tag) and len(image_tag) <= 128
    assert RELEASE_ID.match(chart.release_id) and len(chart.release_id) <= 63
    assert chart.image.startswith("127.0.0.1:5000/min/minserver:")


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        h.update(str(f.relative_to(path)).encode())
        if f.is_file():
            h.update(f.read_bytes())
    return h.hexdigest()


def test_packaging_is_reproducible_parallel_safe_and_never_touches_the_template(tmp_path):
    from tars_tasks.core.settings import Settings
    from tars_tasks.project import Project

    before = _tree_digest(Path(str(assets.chart_dir())))
    project = Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs()}))
    services = project.services
    serial = {s.id: package(s, project.settings, "t1", tmp_path / "serial")[1].read_bytes() for s in services}
    again = {s.id: package(s, project.settings, "t1", tmp_path / "again")[1].read_bytes() for s in services}
    assert serial == again
    with ThreadPoolExecutor(8) as pool:  # the same service many times at once, into one folder
        paths = list(pool.map(lambda s: package(s, project.settings, "t1", tmp_path / "par")[1], services * 4))
    assert {p.name for p in paths} == {p.name for p in (tmp_path / "serial").iterdir()}
    for s in services:
        name = next(p.name for p in (tmp_path / "serial").iterdir() if p.name.startswith(s.name + "-0"))
        assert (tmp_path / "par" / name).read_bytes() == serial[s.id]
    assert not [p for p in (tmp_path / "par").iterdir() if p.name.startswith(".")]  # no temp files left
    assert _tree_digest(Path(str(assets.chart_dir()))) == before


def test_tgz_layout_fixed_metadata(repo):
    project, service = load_one(repo, (DATA / "minimal.yaml").read_text())
    chart = assemble(service, project.settings, "t1")
    import io
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes(chart))) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names) and "min-minserver/Chart.yaml" in names and "min-minserver/templates/tserver.yaml" in names
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(315532800, 0, 0, "", "")}
    meta = yaml.safe_load(chart.chart_yaml)
    assert meta["name"] == "min-minserver" and meta["appVersion"] == "t1"


def test_helm_lint_and_client_dry_run_pass_on_every_sample_chart(helm_bin, tmp_path):
    from tars_tasks.core.settings import Settings
    from tars_tasks.project import Project

    project = Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs()}))
    for s in project.services:
        _, path = package(s, project.settings, "t1", tmp_path)
        lint = subprocess.run([helm_bin, "lint", str(path)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout + lint.stderr
        dry = subprocess.run([helm_bin, "install", s.name, str(path), "--dry-run=client", "-n", "tars"],
                             capture_output=True, text=True)
        assert dry.returncode == 0, dry.stderr
        assert "kind: TServer" in dry.stdout


def test_validate_renders_and_checks_crds_on_every_sample(tmp_path):
    """The claim: a values.yaml that passes validate renders a valid TServer (checked on every sample)."""
    from tars_tasks.core.settings import Settings
    from tars_tasks.project import Project

    project = Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs(), "crds_dir": str(CRDS_DIR)}))
    assert project.check(project.services, render=True) == []


def test_validate_reports_a_chart_that_breaks_the_crd(repo, tmp_path):
    """With a CRD schema that forbids what we render, validate says so, located at the file."""
    import json


    crds = tmp_path / "crds"
    shutil.copytree(CRDS_DIR, crds)
    schema = json.loads((crds / "tserver.v1beta3.schema.json").read_text())
    schema["properties"]["spec"]["properties"]["k8s"]["properties"]["replicas"]["maximum"] = 1
    (crds / "tserver.v1beta3.schema.json").write_text(json.dumps(schema))
    repo.service("Shop", "Cart", "replicas: 5\n")
    project = repo.load(crds_dir=str(crds))
    assert [str(p) for p in project.check(project.services)] == [
        "services/Shop/Cart/values.yaml:1:1: rendered TServer/shop-cart: spec.k8s.replicas: 5 is greater than the maximum of 1"]


def test_validate_locates_a_chart_that_does_not_render(repo, monkeypatch):
    """When the one-shot render fails, every service is rendered alone and the failing ones are named."""
    import tars_tasks.chart.package as charts_mod
    from tars_tasks.chart.package import ChartTemplate

    real = charts_mod.load_template()
    broken = tuple((rel, b"{{ fail \"boom\" }}\n" if rel == "templates/tserver.yaml" else data)
                   for rel, data in real.files)
    monkeypatch.setattr(charts_mod, "load_template", lambda path="", stamp=(): ChartTemplate(broken, real.meta, "x" * 64))
    repo.service("Shop", "Cart")
    project = repo.load()
    problems = [str(p) for p in project.check(project.services)]
    assert len(problems) == 1
    assert problems[0].startswith("services/Shop/Cart/values.yaml:1:1: chart does not render: `")
    assert "boom" in problems[0]


def test_split_by_subchart():
    from tars_tasks.chart.umbrella import split_by_subchart

    text = ("---\n# Source: tars-tasks-render/charts/a-b/templates/tserver.yaml\nkind: TServer\n"
            "---\n# Source: tars-tasks-render/charts/c-d/templates/timage.yaml\nkind: TImage\n"
            "---\n# Source: tars-tasks-render/charts/a-b/templates/timage.yaml\nkind: TImage\n")
    parts = split_by_subchart(text)
    assert sorted(parts) == ["a-b", "c-d"]
    assert [d["kind"] for d in parse(parts["a-b"])] == ["TServer", "TImage"]
    # each part reads as `helm template` of that chart alone prints it
    assert parts["a-b"] == ("---\n# Source: a-b/templates/tserver.yaml\nkind: TServer\n"
                            "---\n# Source: a-b/templates/timage.yaml\nkind: TImage\n")


def test_one_helm_lint_of_many_charts_names_the_failing_one(helm_bin, tmp_path):
    """A dry run lints a batch of charts with one helm process; the findings go to the chart that has them."""
    for name in ("good", "bad"):
        subprocess.run([helm_bin, "create", str(tmp_path / name)], check=True, capture_output=True)
    with (tmp_path / "bad" / "values.yaml").open("a") as fh:
        fh.write("broken: [\n")
    found = Helm(helm_bin).lint_many([str(tmp_path / "good"), str(tmp_path / "bad")])
    assert found[str(tmp_path / "good")] == ""
    assert found[str(tmp_path / "bad")].startswith("[ERROR] values.yaml: unable to parse YAML: ")


def test_upstreams_defaults_and_leniency(repo, helm_bin):
    """What upstream's own chart renders when values omit them (docs/configs.md's table): important 5, servant
    thread 5, capacity and connection 100000; numeric and boolean env values go as strings; repo.id "" is unset."""
    text = (DATA / "minimal.yaml").read_text() + (
        "servants:\n  - {name: MinObj, port: 10000}\n"
        "envVars:\n  - {name: RETRIES, value: 42}\n  - {name: DEBUG, value: true}\n  - {name: RATIO, value: 0.5}\n"
        "repo:\n  id: \"\"\n")
    project, service = load_one(repo, text)
    spec = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]
    assert spec["important"] == 5
    servant = spec["tars"]["servants"][0]
    assert (servant["thread"], servant["capacity"], servant["connection"]) == (5, 100000, 100000)
    env = {e["name"]: e.get("value") for e in spec["k8s"]["env"]}
    assert (env["RETRIES"], env["DEBUG"], env["RATIO"]) == ("42", "true", "0.5")
    assert spec["release"]["id"] == "t1"  # the content tag, as when repo.id is not given


def test_numeric_env_values_are_sent_as_written(repo, helm_bin):
    """docs/configs.md: a number is sent "as its text": the scalar as written in values.yaml, not the number YAML
    read (octal 00123 is not 83, 1.50 is not 1.5, a big integer keeps its digits); a boolean is "true"/"false"."""
    written = {"OCT": "00123", "HEX": "0x1F", "PRICE": "1.50", "SEP": "1_000", "BIG": "12345678901234567890123",
               "EXP": "1e3", "FLAG_ON": "true", "FLAG_OFF": "False", "NEG": "-007"}
    text = (DATA / "minimal.yaml").read_text() + "envVars:\n" + "".join(
        f"  - {{name: {name}, value: {value}}}\n" for name, value in written.items())
    project, service = load_one(repo, text)
    spec = kinds(render(helm_bin, project, service), "TServer")[0]["spec"]
    env = {e["name"]: e.get("value") for e in spec["k8s"]["env"]}
    assert {name: env[name] for name in written} == {**written, "FLAG_OFF": "false"}
