"""Hostile inputs (issue 12, items 3, 4, 6, 7 and 9): YAML bombs, colliding services, saved plans that lie,
writes through symlinks, settings that would reach helm broken."""
from __future__ import annotations

import re

import pytest

from tars_tasks.cli.tasks import runtime_config_arg
from tars_tasks.core import fsio
from tars_tasks.core.errors import UsageError
from tars_tasks.core.helm import Helm
from tars_tasks.core.settings import Settings
from tars_tasks.core.yamlfile import YamlFileError, load_mapping
from tars_tasks.deploy import steps as steps_module
from tars_tasks.deploy.report import ServiceReport
from tars_tasks.deploy.runner import Runner
from tars_tasks.image.artifacts import resolve
from tars_tasks.plan.model import Plan, ServicePlan
from tars_tasks.project import Project

# the classic "billion laughs": 9 levels of 9 aliases, 9^9 strings once expanded (a 468-byte file)
BILLION_LAUGHS = b"""# a billion laughs (468 bytes)
app: Base
server: Bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def _refusal(data: bytes) -> str:
    with pytest.raises(YamlFileError) as caught:
        load_mapping(data, "services/Base/Bomb/values.yaml")
    return str(caught.value)


# --- item 6: YAML bombs and depth ---------------------------------------------------------------------------

def test_billion_laughs_is_refused_where_the_aliases_blow_up():
    assert len(BILLION_LAUGHS) == 468
    assert _refusal(BILLION_LAUGHS) == ("services/Base/Bomb/values.yaml:8:8: e[0]: YAML aliases expand to more "
                                        "than 10000 nodes (an alias bomb?); write the values out instead")


def test_nesting_past_our_limit_is_a_located_error():
    data = b"app: Base\nserver: Deep\nextra: " + b"[" * 150 + b"]" * 150 + b"\n"
    assert _refusal(data) == "services/Base/Bomb/values.yaml:3:107: extra[0][0][0]: nested more than 100 levels deep"


def test_a_thousand_nesting_levels_are_a_located_error_not_a_recursion_error():
    """Whoever refuses first (our guard, or a PyYAML that limits nesting itself), the user gets one located
    line at the nesting, never a traceback."""
    data = b"app: Base\nserver: Deep\nextra: " + b"[" * 1000 + b"]" * 1000 + b"\n"
    message = _refusal(data)
    assert re.fullmatch(r"services/Base/Bomb/values\.yaml:3:\d+: [^\n]+", message), message


def test_nesting_so_deep_it_crashes_libyaml_is_refused_first():
    data = b"app: Base\nserver: Deep\nextra: " + b"[" * 200_000 + b"]" * 200_000 + b"\n"  # segfaults libyaml's composer
    message = _refusal(data)  # no segfault, no RecursionError: one located line
    assert re.fullmatch(r"services/Base/Bomb/values\.yaml:3:\d+: [^\n]+", message), message


def test_block_nesting_is_refused_too():
    data = b"app: Base\nserver: Deep\nextra:\n" + b"".join(b"  " * i + b"- k:\n" for i in range(120))
    assert _refusal(data).startswith("services/Base/Bomb/values.yaml:53:101: extra[0].k[0]: nested more than")


def test_aliases_within_budget_and_merge_keys_still_load():
    values, _ = load_mapping(b"app: A\nserver: B\nbase: &b {cpu: 1, mem: 2}\nx: *b\ny:\n  <<: *b\n  cpu: 3\n", "v.yaml")
    assert values["x"] == {"cpu": 1, "mem": 2}
    assert values["y"] == {"cpu": 3, "mem": 2}


def test_duplicate_keys_are_located_with_both_lines():
    data = b"app: Base\nserver: Dup\nrepo:\n  image: a/b\n  tag: x\n  image: c/d\n"
    assert _refusal(data) == ("services/Base/Bomb/values.yaml:6:3: repo.image: duplicate key 'image' "
                              "(first at line 4, column 3; YAML would silently keep only the last)")


def test_duplicate_keys_in_flow_mappings_and_top_level():
    assert _refusal(b"app: A\nserver: B\napp: C\n").startswith("services/Base/Bomb/values.yaml:3:1: app: duplicate")
    assert ": x.a: duplicate key 'a' (first at line 1, column 5;" in _refusal(b"x: {a: 1, a: 2}\n")


def test_a_quoted_key_and_a_plain_number_are_different_keys():
    assert load_mapping(b'a: 1\n"1": x\n1: y\n', "v.yaml")[0] == {"a": 1, "1": "x", 1: "y"}


# --- item 4: two services, one release ----------------------------------------------------------------------

def test_ids_differing_in_case_are_an_error_in_each_file_naming_the_other(repo):
    repo.service("Base", "HelloServer", "servants: [{name: HelloObj, port: 10000}]\n")
    repo.service("base", "helloserver", "servants: [{name: HelloObj, port: 10000}]\n", folder="base2/hello")
    same = "same id (ignoring case) 'base.helloserver', helm release and TServer name 'base-helloserver', " \
           "image repository '127.0.0.1:5000/base/helloserver'; one would overwrite the other"
    assert repo.problems() == [
        f"services/Base/HelloServer/values.yaml:1:6: app: collides with base.helloserver "
        f"(services/base2/hello/values.yaml): {same}",
        f"services/base2/hello/values.yaml:1:6: app: collides with Base.HelloServer "
        f"(services/Base/HelloServer/values.yaml): {same}"]


def test_two_services_pushing_to_one_image_repository_collide(repo):
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\nrepo:\n  image: 127.0.0.1:5000/team/pay\n")
    repo.service("Base", "B", "servants: [{name: BObj, port: 10000}]\nrepo:\n  image: 127.0.0.1:5000/team/pay\n")
    assert repo.problems() == [
        "services/Base/A/values.yaml:6:10: repo.image: collides with Base.B (services/Base/B/values.yaml): same "
        "image repository '127.0.0.1:5000/team/pay'; one would overwrite the other",
        "services/Base/B/values.yaml:6:10: repo.image: collides with Base.A (services/Base/A/values.yaml): same "
        "image repository '127.0.0.1:5000/team/pay'; one would overwrite the other"]


# --- item 9: settings, `invoke -f` ------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "value", "message"), [
    ("helm_timeout", "abc", "tars.helm_timeout: 'abc' is not a duration (e.g. 5m0s, 90s, 1h)"),
    ("registry", "", "tars.registry: must not be empty (host[:port][/path], e.g. 127.0.0.1:5000)"),
    ("namespace", "", "tars.namespace: must not be empty (lowercase letters, digits and '-', at most 63)"),
    ("namespace", "Prod", "tars.namespace: 'Prod' is not a Kubernetes namespace name (lowercase letters, digits "
                          "and '-', at most 63)"),
    ("registry", "https://ghcr.io", "tars.registry: 'https://ghcr.io' is not a registry host (host[:port][/path], "
                                    "e.g. 127.0.0.1:5000)"),
])
def test_settings_that_would_reach_helm_broken_are_usage_errors(setting, value, message):
    with pytest.raises(UsageError) as caught:
        Settings.from_mapping({setting: value})
    assert (str(caught.value), caught.value.exit_code) == (message, 2)


def test_good_durations_registries_and_namespaces_pass():
    s = Settings.from_mapping({"helm_timeout": "1h30m", "registry": "ghcr.io/org", "namespace": "team-a"})
    assert (s.helm_timeout, s.registry, s.namespace) == ("1h30m", "ghcr.io/org", "team-a")


@pytest.mark.parametrize(("argv", "env", "found"), [
    (["-f", "a.yaml", "list"], {}, "a.yaml"),
    (["--config", "a.yaml", "list"], {}, "a.yaml"),
    (["--config=a.yaml", "list"], {}, "a.yaml"),
    (["-fa.yaml", "list"], {}, "a.yaml"),
    (["list"], {"INVOKE_RUNTIME_CONFIG": "b.yaml"}, "b.yaml"),
    (["list"], {}, None),
])
def test_preflight_finds_the_runtime_config_as_invoke_does(argv, env, found):
    assert runtime_config_arg(argv, env) == found


# --- item 7: writes through symlinks; a log that cannot be written is a warning ----------------------------------

def test_atomic_writes_replace_a_planted_symlink_instead_of_following_it(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "plan.json").symlink_to(outside)
    fsio.write_text_atomic(tmp_path / "dist" / "plan.json", "{}\n")
    assert outside.read_text() == "precious\n"
    assert not (tmp_path / "dist" / "plan.json").is_symlink()
    assert (tmp_path / "dist" / "plan.json").read_text() == "{}\n"


def test_a_log_symlink_to_a_file_outside_the_repo_is_replaced_not_written_through(tmp_path):
    outside = tmp_path / "bashrc"
    outside.write_text("precious\n")
    logs = tmp_path / "mono" / "dist" / "logs"
    logs.mkdir(parents=True)
    (logs / "Base.A.deploy.log").symlink_to(outside)
    with fsio.open_log(logs / "Base.A.deploy.log") as log:
        log.write("helm upgrade ...\n")
    assert (outside.read_text(), log.error) == ("precious\n", "")
    assert (logs / "Base.A.deploy.log").read_text() == "helm upgrade ...\n"


def test_a_log_that_cannot_be_opened_or_written_is_recorded_not_raised(tmp_path):
    (tmp_path / "logs").write_text("a file where the log folder should be\n")
    with fsio.open_log(tmp_path / "logs" / "Base.A.deploy.log") as log:
        assert log.write("line\n") == 5
    assert log.error == f"log {tmp_path}/logs/Base.A.deploy.log not written: File exists"
    full = fsio.Log(tmp_path / "full.log")
    full._file = open("/dev/full", "w", encoding="utf-8", buffering=1)  # noqa: SIM115 - the disk is full
    full.write("line\n")
    full.close()
    assert full.error == f"log {tmp_path}/full.log not written: No space left on device"


class _DeploysFine:
    """Rollout stand-in: the cluster says the deploy worked (helm and tracking are tested elsewhere)."""

    def __init__(self, *args, **kwargs):
        pass

    def deploy(self, target, chart, log, progress, waiting=None) -> dict:
        log.write(f"helm upgrade --install {target.name}\n")
        return {"tracked": True, "state": "ready"}


def test_a_deploy_log_that_cannot_be_written_leaves_the_service_deployed_with_a_warning(repo, monkeypatch):
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    repo.service("Base", "B", "servants: [{name: BObj, port: 10001}]\ndependsOn: [Base.A]\n")
    repo.write("dist/logs", "disk full: the log folder cannot be made\n")
    project = repo.load()
    artifacts = resolve(project.settings, project.services)
    plan = Plan([ServicePlan(sid, True, ["not deployed"], ["chart", "deploy"], a.ref, i,
                             ["Base.A"] if sid == "Base.B" else [], a.fingerprint, "")
                 for i, (sid, a) in enumerate(sorted(artifacts.items()))], [["Base.A"], ["Base.B"]], "tars")
    monkeypatch.setattr(steps_module, "Rollout", _DeploysFine)
    monkeypatch.setattr(steps_module.Steps, "kube", lambda self: None)
    monkeypatch.setattr(steps_module.Steps, "namespace_watch", lambda self: None)
    said: list[str] = []
    reports = {p.id: ServiceReport(p.id, image=p.image) for p in plan.services}
    steps = steps_module.Steps(project.settings, plan, artifacts, Helm.from_settings(project.settings), None,  # type: ignore[arg-type]
                               reports, False,
                               repo.root / "dist" / "charts", progress=lambda sid, step, msg: said.append(msg))
    report = Runner(plan, steps, jobs=2).run()
    assert [(s.id, s.status.value, s.warnings) for s in report.services] == [
        (sid, "deployed", [f"log {repo.root}/dist/logs/{sid}.deploy.log not written: dist/logs is not a folder: "
                           "outputs cannot be written under it (remove it)"]) for sid in ("Base.A", "Base.B")]
    assert report.ok
    assert report.to_json()["services"][0]["warnings"] == report.services[0].warnings
    assert f"warning: {report.services[0].warnings[0]}" in said


def test_two_services_of_an_app_declaring_one_app_config_collide(repo):
    """An appConfig is the app's file (one TConfig with no server): two owners would deactivate each other's
    version on every deploy. Found by a full read and by a read of one of them (`--service`)."""
    repo.service("Shop", "Cart", "servants: [{name: CObj, port: 10000}]\n"
                                 "appConfig:\n  - {name: shop.conf, content: 'currency = EUR'}\n")
    repo.service("Shop", "Pay", "servants: [{name: PObj, port: 10000}]\n"
                                "appConfig:\n  - {name: other.conf, content: x}\n  - {name: shop.conf, content: y}\n")
    repo.service("Bank", "Pay", "servants: [{name: BObj, port: 10000}]\n"
                                "appConfig:\n  - {name: shop.conf, content: 'another app: its own file'}\n")
    cart = ("services/Shop/Cart/values.yaml:6:12: appConfig[0].name: collides with Shop.Pay "
            "(services/Shop/Pay/values.yaml): both declare app config 'shop.conf' of app Shop, which the app's "
            "services share; each deploy would deactivate the other's version: declare it in one service only")
    pay = ("services/Shop/Pay/values.yaml:7:12: appConfig[1].name: collides with Shop.Cart "
           "(services/Shop/Cart/values.yaml): both declare app config 'shop.conf' of app Shop, which the app's "
           "services share; each deploy would deactivate the other's version: declare it in one service only")
    assert repo.problems() == [cart, pay]
    part = Project.load_selected(repo.settings(), ["Shop.Pay"])
    assert [str(p) for p in part.problems_for(part.select(["Shop.Pay"]))] == [pay]
