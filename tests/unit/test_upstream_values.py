"""values.yaml files written for the upstream K8SFramework chart: they validate, render CRD-valid manifests,
pinned images are deployed as given, and the release record (who, when, why) never changes a chart."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from support import CRDS_DIR, init_git
from tars_tasks import Options, make_plan
from tars_tasks.chart.package import assemble, chart_values, package
from tars_tasks.core.errors import TarsError
from tars_tasks.core.helm import Helm
from tars_tasks.deploy.records import MAX_MARK, RecordInputs, Records, pipeline_url
from tars_tasks.image.artifacts import resolve
from tars_tasks.validate.conformance import crd_problems, parse

UPSTREAM = Path(__file__).resolve().parent.parent / "data" / "upstream"
UPSTREAM_FILES = sorted(UPSTREAM.glob("*.yaml"))
F = "services/S/values.yaml"
NOTE = (f"{F}:8:7: warning: repo.id: ignored: a built image's release id is its content tag (a rerun with nothing "
        "changed restarts nothing); repo.id names pinned images only")


def load(repo, text: str):
    repo.write("services/S/values.yaml", text)
    return repo.load()


def one(repo, name: str):
    project = load(repo, (UPSTREAM / name).read_text())
    return project, project.services[0]


def rendered(helm_bin, project, service, tmp: Path) -> list[dict]:
    tag = resolve(project.settings, [service])[service.id].tag
    _, path = package(service, project.settings, tag, tmp)
    return parse(Helm(helm_bin).template(service.name, str(path), "tars"))


def tserver(docs: list[dict]) -> dict:
    return next(d for d in docs if d["kind"] == "TServer")


@pytest.mark.parametrize("path", UPSTREAM_FILES, ids=lambda p: p.name)
def test_every_upstream_file_validates_and_renders_valid_crds(repo, helm_bin, path, tmp_path):
    project = load(repo, path.read_text())
    assert repo.problems() == ([NOTE] if path.name == "repo-id.yaml" else [])
    docs = rendered(helm_bin, project, project.services[0], tmp_path)
    assert {d["kind"] for d in docs} >= {"TServer", "TImage"}
    assert crd_problems(docs, CRDS_DIR) == []


def test_null_fields_are_not_set(repo, helm_bin, tmp_path):
    project, service = one(repo, "nulls.yaml")
    values = chart_values(service, project.settings, "t1")
    assert not {"envVars", "appConfig", "config", "nodeConfig", "mounts", "resources", "profile", "subtype",
                "user", "reason"} & set(values)
    assert values["repo"] == {"id": "t1", "image": "127.0.0.1:5000/test/nullserver:t1"}
    spec = tserver(rendered(helm_bin, project, service, tmp_path))["spec"]
    assert spec["subType"] == "tars" and spec["tars"]["profile"] == ""
    assert [e["name"] for e in spec["k8s"]["env"]] == ["Namespace", "PodName", "PodIP", "ServerApp"]
    assert [m["name"] for m in spec["k8s"]["mounts"]] == ["host-log-dir"]
    assert spec["k8s"]["nodeSelector"] == [] and "resources" not in spec["k8s"]


def test_null_template_of_a_tars_service_is_missing(repo):
    load(repo, "app: A\nserver: B\ntemplate:\n")
    assert repo.problems() == [f"{F}:1:1: missing required key 'template' (a TTemplate such as tars.cpp; required "
                               "for subtype tars)"]


def test_a_pinned_image_is_deployed_as_given_with_its_release_id(repo, helm_bin, tmp_path):
    project, service = one(repo, "pinned.yaml")
    art = resolve(project.settings, [service], tag="ignored")[service.id]
    assert (art.pinned, art.ref, art.tag, art.image, art.reference) == (
        "127.0.0.1:5000/test/testserver:v6", "127.0.0.1:5000/test/testserver:v6", "v6",
        "127.0.0.1:5000/test/testserver", "v6")
    docs = rendered(helm_bin, project, service, tmp_path)
    assert tserver(docs)["spec"]["release"] == {"id": "id-test-6", "image": "127.0.0.1:5000/test/testserver:v6",
                                                "secret": "tars-image-secret"}
    timage = next(d for d in docs if d["kind"] == "TImage")
    assert timage["releases"] == [{"id": "id-test-6", "image": "127.0.0.1:5000/test/testserver:v6",
                                   "secret": "tars-image-secret"}]
    assert assemble(service, project.settings, art.tag).app_version == "v6"


IMAGE_HINT = ("is invalid: expected an image reference: a lower-case name such as reg.io/team/app, optionally with "
              "a lower-case :tag (the TServer takes no digest, upper case or '_')")


@pytest.mark.parametrize("image", ["reg.io/a/b:V1.0", "reg.io/a/b:1.0_rc", "reg.io/a/b@sha256:0123abcd"])
def test_a_pinned_reference_the_tserver_refuses_is_an_error(repo, image):
    load(repo, f"app: A\nserver: B\ntemplate: tars.cpp\nrepo:\n  image: {image}\n")
    assert repo.problems() == [f"{F}:5:10: repo.image: {image!r} {IMAGE_HINT}"]


def test_a_pinned_tag_is_its_release_id_unless_repo_id_says(repo):
    project = load(repo, "app: A\nserver: B\ntemplate: tars.cpp\nrepo:\n  image: busybox:1.36.1-musl\n")
    service = project.services[0]
    chart = assemble(service, project.settings, resolve(project.settings, [service])[service.id].tag)
    assert (chart.release_id, chart.app_version, chart.image) == ("1.36.1-musl", "1.36.1-musl", "busybox:1.36.1-musl")
    assert chart.version.startswith("0.0.0-r")


def test_a_pinned_image_with_a_build_section_names_both_lines(repo):
    load(repo, "app: A\nserver: B\ntemplate: tars.cpp\nrepo:\n  image: reg.io/a/b:1.0\nbuild:\n  files: [.]\n")
    assert repo.problems() == [f"{F}:5:10: repo.image: 'reg.io/a/b:1.0' is pinned (it has a tag or digest, line 5) "
                               "and is never built, but a build section is given (line 6): drop the tag to build "
                               "it, or drop build to deploy it as given"]


def test_repo_id_of_a_built_image_is_ignored(repo):
    project, service = one(repo, "repo-id.yaml")
    art = resolve(project.settings, [service])[service.id]
    chart = assemble(service, project.settings, art.tag)
    assert art.pinned == "" and chart.release_id == art.tag != "id-from-ci-42"
    assert chart.image == f"127.0.0.1:5000/test/builtserver:{art.tag}"


class Registry:
    """Has exactly the references it was given (planning asks `has` only)."""

    def __init__(self, *refs: str):
        self.refs = set(refs)
        self.asked: list[tuple[str, str]] = []

    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        self.asked.append((image, tag))
        return f"{image}:{tag}" in self.refs or f"{image}@{tag}" in self.refs


def test_plan_says_pinned_and_asks_the_registry_for_that_exact_reference(repo):
    repo.write("services/S/values.yaml", (UPSTREAM / "pinned.yaml").read_text())
    init_git(repo.root)
    registry = Registry("127.0.0.1:5000/test/testserver:v6")
    plan, _ = make_plan(repo.load(), Options(), registries=registry)
    service = plan.services[0]
    assert registry.asked == [("127.0.0.1:5000/test/testserver", "v6")]
    assert service.steps == ["chart", "deploy"]
    assert service.reasons == ["not deployed in namespace tars", "pinned image 127.0.0.1:5000/test/testserver:v6: "
                                                                 "not built"]
    assert service.image == "127.0.0.1:5000/test/testserver:v6"


def test_a_pinned_image_missing_from_its_registry_stops_the_plan(repo):
    repo.write("services/S/values.yaml", (UPSTREAM / "pinned.yaml").read_text())
    init_git(repo.root)
    registry = Registry("127.0.0.1:5000/test/testserver:v5")
    with pytest.raises(TarsError) as caught:
        make_plan(repo.load(), Options(), registries=registry)
    assert str(caught.value) == (
        "pinned image not in its registry: Test.PinnedServer (127.0.0.1:5000/test/testserver:v6) (an image with a "
        "tag or digest in repo.image is deployed as given, never built)")


def test_node_selector_alone(repo, helm_bin, tmp_path):
    project, service = one(repo, "node-selector.yaml")
    assert tserver(rendered(helm_bin, project, service, tmp_path))["spec"]["k8s"]["nodeSelector"] == [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node87", "node88"]},
        {"key": "tars.io/ssd", "operator": "Exists"}]


def test_label_match_and_node_selector_are_combined(repo, helm_bin, tmp_path):
    project, service = one(repo, "both-selectors.yaml")
    assert tserver(rendered(helm_bin, project, service, tmp_path))["spec"]["k8s"]["nodeSelector"] == [
        {"key": "tars.io/ServerApp", "operator": "In", "values": ["tars"]},
        {"key": "tars.io/cores", "operator": "Gt", "values": ["8"]},
        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["node87"]}]


CONTRADICTIONS = [
    ("labelMatch: [{key: zone, operator: In, values: [a]}]\nnodeSelector: [{key: zone, operator: In, values: [b]}]\n",
     f"{F}:5:16: nodeSelector[0]: contradicts labelMatch[0] on key 'zone' (In and In): no node can match both "
     "(labelMatch and nodeSelector are combined)"),
    ("labelMatch: [{key: ssd, operator: Exists}]\nnodeSelector: [{key: ssd, operator: DoesNotExist}]\n",
     f"{F}:5:16: nodeSelector[0]: contradicts labelMatch[0] on key 'ssd' (Exists and DoesNotExist): no node can "
     "match both (labelMatch and nodeSelector are combined)"),
    ("labelMatch: [{key: zone, operator: In, values: [a]}]\nnodeSelector: [{key: zone, operator: NotIn, values: [a, b]}]\n",
     f"{F}:5:16: nodeSelector[0]: contradicts labelMatch[0] on key 'zone' (In and NotIn): no node can match both "
     "(labelMatch and nodeSelector are combined)"),
    ("labelMatch: [{key: cores, operator: Gt, values: [8]}]\nnodeSelector: [{key: cores, operator: Lt, values: [9]}]\n",
     f"{F}:5:16: nodeSelector[0]: contradicts labelMatch[0] on key 'cores' (Gt and Lt): no node can match both "
     "(labelMatch and nodeSelector are combined)"),
    ("nodeSelector: [{key: zone, operator: In}]\n",
     f"{F}:4:16: nodeSelector[0]: operator In needs a non-empty 'values' list"),
]


@pytest.mark.parametrize("body,expected", CONTRADICTIONS, ids=["in-in", "exists-doesnotexist", "in-notin", "gt-lt",
                                                                "bad-requirement"])
def test_selector_requirements_that_no_node_can_meet_are_errors(repo, body, expected):
    load(repo, "app: A\nserver: B\ntemplate: tars.cpp\n" + body)
    assert repo.problems() == [expected]


def test_compatible_requirements_on_one_key_are_fine(repo):
    load(repo, "app: A\nserver: B\ntemplate: tars.cpp\nlabelMatch: [{key: zone, operator: In, values: [a, b]}]\n"
               "nodeSelector: [{key: zone, operator: NotIn, values: [b]}, {key: cores, operator: Gt, values: [8]},"
               " {key: cores, operator: Lt, values: [10]}]\n")
    assert repo.problems() == []


NAME_CASES = [
    ("mounts:\n  - name: logs\n    mountPath: /logs\n    source:\n      persistentVolumeClaim:\n"
     "        claimName: remote_log_pvc\n",
     f"{F}:9:20: mounts[0].source.persistentVolumeClaim.claimName: 'remote_log_pvc' is invalid: expected a DNS-1123 "
     "name: lower-case letters, digits, '-', '.'"),
    ("mounts:\n  - name: cm\n    mountPath: /cm\n    source: {configMap: {name: My.Config}}\n",
     f"{F}:7:32: mounts[0].source.configMap.name: 'My.Config' is invalid: expected a DNS-1123 name: lower-case "
     "letters, digits, '-', '.'"),
    ("mounts:\n  - name: sec\n    mountPath: /sec\n    source: {secret: {secretName: db-}}\n",
     f"{F}:7:35: mounts[0].source.secret.secretName: 'db-' is invalid: expected a DNS-1123 name: lower-case "
     "letters, digits, '-', '.'"),
    ("mounts:\n  - name: h\n    mountPath: /h\n    source: {hostPath: {path: /data, type: Dir}}\n",
     f"{F}:7:44: mounts[0].source.hostPath.type: 'Dir' is not one of '', 'Directory', 'DirectoryOrCreate', "
     "'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'"),
    ("repo:\n  secret: registry-\n",
     f"{F}:5:11: repo.secret: 'registry-' is invalid: expected a DNS-1123 secret name: lower-case letters, digits, "
     "'-', '.'"),
    ("envVars:\n  - {name: 1ST_NAME, value: x}\n",
     f"{F}:5:12: envVars[0].name: '1ST_NAME' is invalid: expected 1-63 letters, digits, '-', '.', '_', not starting "
     "with a digit"),
    ("resources:\n  limits: {cpu: 2x}\n",
     f"{F}:5:17: resources.limits.cpu: '2x' is invalid: expected a Kubernetes quantity such as 500m, 1, 256Mi"),
    ("resources:\n  requests: {memory: 1.2.3Gi}\n",
     f"{F}:5:22: resources.requests.memory: '1.2.3Gi' is invalid: expected a Kubernetes quantity such as 500m, 1, "
     "256Mi"),
    ("resources:\n  requests: {memory: 64MiB}\n",
     f"{F}:5:22: resources.requests.memory: '64MiB' is invalid: expected a Kubernetes quantity such as 500m, 1, "
     "256Mi"),
]


@pytest.mark.parametrize("body,expected", NAME_CASES, ids=["claimName", "configMap", "secretName", "hostPath.type",
                                                          "repo.secret", "envVar", "cpu", "memory", "memory-unit"])
def test_kubernetes_names_are_checked_before_the_cluster(repo, body, expected):
    load(repo, "app: A\nserver: B\ntemplate: tars.cpp\n" + body)
    assert repo.problems() == [expected]


def test_good_kubernetes_quantities_and_names(repo):
    load(repo, "app: A\nserver: B\ntemplate: tars.cpp\nresources:\n  requests: {cpu: 500m, memory: 1.5Gi}\n"
               "  limits: {cpu: '2', memory: 1e9}\nenvVars:\n  - {name: _x.y-z, value: v}\n"
               "mounts:\n  - {name: c, mountPath: /c, source: {persistentVolumeClaim: {claimName: logs.pvc-1}}}\n")
    assert repo.problems() == []


# ---- release records: who, when, why


def test_user_and_reason_never_change_the_chart(repo):
    project, service = one(repo, "pinned.yaml")
    with_record = assemble(service, project.settings, "v6")
    project = load(repo, (UPSTREAM / "pinned.yaml").read_text().replace("user: ci-bot\n", "user: somebody-else\n")
                   .replace('reason: "release 6 from the upstream pipeline"\n', ""))
    without = assemble(project.services[0], project.settings, "v6")
    assert with_record.version == without.version and with_record.values == without.values
    assert b"ci-bot" not in with_record.values and b"upstream pipeline" not in with_record.values


NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def git_repo(root: Path, subject: str = "Fix the cart total") -> str:
    root.mkdir(parents=True, exist_ok=True)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "PATH": "/usr/bin:/bin", "HOME": str(root)}
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "Grace Hopper"],
                 ["git", "commit", "-q", "--allow-empty", "-m", subject]):
        subprocess.run(argv, cwd=root, check=True, env=env, capture_output=True)
    return subprocess.run(["git", "log", "-1", "--format=%h"], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_records_from_flags(repo):
    project, service = one(repo, "pinned.yaml")
    records = Records(repo.root, RecordInputs("alice", "hotfix for #12"), environ={"GITLAB_USER_LOGIN": "ci"})
    assert records.record(service, NOW) == {"createPerson": "alice", "createTime": "2024-05-06T07:08:09Z",
                                            "mark": "hotfix for #12"}


def test_records_from_values_yaml_user_and_reason(repo):
    project, service = one(repo, "pinned.yaml")
    assert Records(repo.root, environ={"GITHUB_ACTOR": "octo"}).record(service, NOW) == {
        "createPerson": "ci-bot", "createTime": "2024-05-06T07:08:09Z", "mark": "release 6 from the upstream pipeline"}


def test_records_from_gitlab_ci(repo, tmp_path):
    short = git_repo(tmp_path / "g")
    _, service = one(repo, "nulls.yaml")
    env = {"GITLAB_USER_LOGIN": "gitlab-user", "GITHUB_ACTOR": "octo",
           "CI_PIPELINE_URL": "https://gitlab.example.com/shop/-/pipelines/991"}
    assert Records(tmp_path / "g", environ=env).record(service, NOW) == {
        "createPerson": "gitlab-user", "createTime": "2024-05-06T07:08:09Z",
        "mark": f"Fix the cart total ({short}) https://gitlab.example.com/shop/-/pipelines/991"}


def test_records_from_github_actions(repo, tmp_path):
    short = git_repo(tmp_path / "g")
    _, service = one(repo, "nulls.yaml")
    env = {"GITHUB_ACTOR": "octo", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "shop/mono",
           "GITHUB_RUN_ID": "77"}
    assert pipeline_url(env) == "https://github.com/shop/mono/actions/runs/77"
    assert Records(tmp_path / "g", environ=env).record(service, NOW)["mark"] == (
        f"Fix the cart total ({short}) https://github.com/shop/mono/actions/runs/77")


def test_records_from_git_alone(repo, tmp_path):
    short = git_repo(tmp_path / "g", subject="x" * 2000)
    _, service = one(repo, "nulls.yaml")
    record = Records(tmp_path / "g", environ={}).record(service, NOW)
    assert record["createPerson"] == "Grace Hopper"
    assert len(record["mark"]) == MAX_MARK and record["mark"] == "x" * (MAX_MARK - 1) + "…"
    assert short not in record["mark"]  # trimmed away with the end of the subject


def test_records_outside_git_leave_out_what_nobody_knows(repo, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    _, service = one(repo, "nulls.yaml")
    (tmp_path / "plain").mkdir()
    assert Records(tmp_path / "plain", environ={"HOME": str(tmp_path)}).record(service, NOW) == {
        "createTime": "2024-05-06T07:08:09Z"}


def test_the_record_values_file_is_what_the_chart_reads(repo, helm_bin, tmp_path):
    project, service = one(repo, "pinned.yaml")
    records = Records(repo.root, RecordInputs("alice", "why"), environ={})
    path = records.values_file(service, tmp_path)
    data = json.loads(path.read_text())
    assert data["releaseRecord"]["createPerson"] == "alice" and data["releaseRecord"]["mark"] == "why"
    _, chart = package(service, project.settings, "v6", tmp_path / "charts")
    docs = parse(Helm(helm_bin).run(["template", service.name, str(chart), "--namespace", "tars",
                                     "--values", str(path)]).stdout)
    release = next(d for d in docs if d["kind"] == "TImage")["releases"][0]
    assert (release["createPerson"], release["mark"]) == ("alice", "why")
    assert release["createTime"] == data["releaseRecord"]["createTime"]
    assert crd_problems(docs, CRDS_DIR) == []
