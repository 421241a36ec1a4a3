"""A saved plan is input: every field type-checked on load, and at release time everything the repo can say
(dependencies, image refs, fingerprints, chart versions, waves, possible steps) derived again and compared;
an image the plan does not build must exist."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import Monorepo
from tars_tasks import Options, make_plan
from tars_tasks.core.errors import TarsError, UsageError
from tars_tasks.core.files import FileLister
from tars_tasks.image.registry import LABEL_FINGERPRINT, RegistryError
from tars_tasks.plan import saved
from tars_tasks.plan.model import Plan


class Images:
    """A registry holding the images given as {ref: fingerprint}; ``down``: it cannot be asked."""

    def __init__(self, held: dict[str, str] | None = None, down: bool = False):
        self.held = held or {}
        self.down = down
        self.asked: list[str] = []

    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        self.asked.append(f"{image}:{tag}")
        if self.down:
            raise RegistryError("registry 127.0.0.1:5000 not reachable")
        found = self.held.get(f"{image}:{tag}")
        return found is not None and (fingerprint is None or found == fingerprint)


def no_local(ref: str) -> dict[str, str] | None:
    return None


@pytest.fixture
def three(repo: Monorepo) -> Monorepo:
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    repo.service("Base", "B", "servants: [{name: BObj, port: 10001}]\ndependsOn: [Base.A]\n")
    repo.service("Shop", "C", "servants: [{name: CObj, port: 10002}]\ndependsOn: [Base.A, Base.B]\n")
    for sid in ("Base/A", "Base/B", "Shop/C"):
        repo.write(f"services/{sid}/bin.txt", f"{sid}\n")
    return repo


def planned(repo: Monorepo, dry_run: bool = False) -> dict:
    """The plan make_plan saves for every service of ``repo`` (nothing in the registry), as JSON."""
    plan, _ = make_plan(repo.load(), Options(dry_run=dry_run), registries=Images())  # type: ignore[arg-type]
    return plan.to_json()


def check(repo: Monorepo, data: dict, registry: Images | None = None, dry_run: bool | None = None,
          local=no_local) -> dict:
    plan = Plan.from_json(json.loads(json.dumps(data)))
    project = repo.load()
    return saved.check(plan, project, FileLister(repo.root), registry or Images(),  # type: ignore[arg-type]
                       plan.dry_run if dry_run is None else dry_run, local)


def service(data: dict, sid: str) -> dict:
    return next(s for s in data["services"] if s["id"] == sid)


# --- loading: types, unknown fields, duplicates ---

@pytest.mark.parametrize("field,value,message", [
    ("dependsOn", None, "services[2].dependsOn: must be a list of strings, not null"),
    ("dependsOn", "Base.A", "services[2].dependsOn: must be a list of strings, not a string"),
    ("dependsOn", [1], "services[2].dependsOn: must be a list of strings, not a list"),
    ("steps", None, "services[2].steps: must be a list of strings, not null"),
    ("changed", "yes", "services[2].changed: must be true or false, not a string"),
    ("wave", True, "services[2].wave: must be a whole number, not a boolean"),
    ("wave", -1, "services[2].wave: must be a whole number, not a number"),
    ("image", {"x": 1}, "services[2].image: must be a string, not an object"),
    ("id", "", "services[2].id: must be a service id, not a string"),
    ("reasons", None, "services[2].reasons: must be a list of strings, not null"),
])
def test_a_field_of_the_wrong_type_is_a_usage_error_naming_it(three, field, value, message):
    data = planned(three)
    data["services"][2][field] = value
    with pytest.raises(UsageError) as caught:
        Plan.from_json(data)
    assert str(caught.value) == message


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["services"][0].update(evil=1),
     "services[0].evil: unknown field (known: id, changed, reasons, steps, image, wave, dependsOn, fingerprint, chart, replace, verdict)"),
    (lambda d: d["services"][1].pop("fingerprint"), "services[1].fingerprint: missing"),
    (lambda d: d.update(extra=True),
     "extra: unknown field (known: format, namespace, env, kubeContext, dryRun, tag, notes, services, waves)"),
    (lambda d: d.pop("waves"), "waves: missing"),
    (lambda d: d.update(services={}), "services: must be a list, not an object"),
    (lambda d: d["services"].append(7), "services[3]: must be an object, not a number"),
    (lambda d: d["services"].append(dict(d["services"][0])), "services[3].id: Base.A is planned twice"),
    (lambda d: d.update(waves=[["Base.A"], "Base.B"]), "waves: must be a list of lists of strings, not a list"),
    (lambda d: d.update(dryRun="no"), "dryRun: must be true or false, not a string"),
    (lambda d: d.update(tag=5), "tag: must be a string or null, not a number"),
    (lambda d: d.update(namespace=""),
     "namespace: must not be empty (lowercase letters, digits and '-', at most 63)"),
    (lambda d: d.update(namespace="Prod;rm"),
     "namespace: 'Prod;rm' is not a Kubernetes namespace name (lowercase letters, digits and '-', at most 63)"),
])
def test_a_malformed_plan_is_a_usage_error_naming_the_field(three, edit, message):
    data = planned(three)
    edit(data)
    with pytest.raises(UsageError) as caught:
        Plan.from_json(data)
    assert str(caught.value) == message


def test_load_names_the_file_and_save_never_follows_a_symlink(three, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep\n")
    link = three.root / "p.json"
    link.symlink_to(outside)
    plan = Plan.from_json(planned(three))
    plan.save(link)
    assert outside.read_text() == "keep\n"
    assert not link.is_symlink()
    assert Plan.load(link) == plan
    data = json.loads(link.read_text())
    data["services"][0]["dependsOn"] = None
    link.write_text(json.dumps(data))
    with pytest.raises(UsageError) as caught:
        Plan.load(link)
    assert str(caught.value) == f"{link}: services[0].dependsOn: must be a list of strings, not null"


# --- at release time: the repo decides ---

def test_an_unchanged_plan_passes_and_yields_the_artifacts(three):
    data = planned(three)
    artifacts = check(three, data)
    assert {sid: a.ref for sid, a in artifacts.items()} == {s["id"]: s["image"] for s in data["services"]}


def test_dependencies_taken_from_the_repo_not_the_file(three):
    data = planned(three)
    service(data, "Shop.C")["dependsOn"] = []
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == ("the plan does not match the repo: Shop.C: dependsOn in the plan [] but the repo "
                                 "says [Base.A, Base.B]; make a new plan")


def test_waves_taken_from_the_repo(three):
    data = planned(three)
    service(data, "Shop.C")["wave"] = 0
    data["waves"] = [["Base.A", "Shop.C"], ["Base.B"]]
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == (
        "the plan does not match the repo: Shop.C: wave in the plan 0 but the repo says 2; waves in the plan "
        "[[Base.A, Shop.C], [Base.B]] but the repo says [[Base.A], [Base.B], [Shop.C]]; make a new plan")


def test_a_foreign_image_is_refused(three):
    data = planned(three)
    ours = service(data, "Base.B")["image"]
    service(data, "Base.B")["image"] = "10.9.9.9:5000/evil/b:1"
    registry = Images()
    with pytest.raises(TarsError) as caught:
        check(three, data, registry)
    assert str(caught.value) == (f"the plan does not match the repo: Base.B: image in the plan 10.9.9.9:5000/evil/b:1 "
                                 f"but the repo says {ours}; make a new plan")
    assert registry.asked == []  # refused before any registry is asked


def test_values_yaml_changed_after_planning_is_refused(three):
    data = planned(three)
    before = service(data, "Base.A")["chart"]
    three.service("Base", "A", "servants: [{name: AObj, port: 10000}]\nreplicas: 3\n")
    now = make_plan(three.load(), Options(), registries=Images())[0].by_id()["Base.A"].chart  # type: ignore[arg-type]
    assert now != before
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == (f"the plan does not match the repo: Base.A: values.yaml changed since the plan was "
                                 f"made (chart {before} in the plan, {now} now); make a new plan")


def test_files_changed_after_planning_is_refused(three):
    data = planned(three)
    three.write("services/Base/B/bin.txt", "changed\n")
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == "files changed since the plan was made (Base.B); make a new plan"


def test_a_service_that_no_longer_exists_is_refused(three):
    data = planned(three)
    service(data, "Base.A")["id"] = "Base.Gone"
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == "the plan names services that no longer exist: Base.Gone"


@pytest.mark.parametrize("steps,dry_run,allowed", [
    (["push", "chart", "deploy"], False, "[chart, deploy] or [build, push, chart, deploy] or [build, chart, deploy]"),
    (["deploy"], False, "[chart, deploy] or [build, push, chart, deploy] or [build, chart, deploy]"),
    (["build", "push", "chart", "deploy"], True, "[chart, deploy] or [build, chart, deploy]"),
    (["chart", "deploy", "build"], True, "[chart, deploy] or [build, chart, deploy]"),
])
def test_only_steps_make_plan_produces_are_accepted(three, steps, dry_run, allowed):
    data = planned(three, dry_run=dry_run)
    service(data, "Base.A")["steps"] = steps
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == (f"the plan does not match the repo: Base.A: steps in the plan [{', '.join(steps)}] "
                                 f"but a plan makes {allowed}; make a new plan")


def test_an_unchanged_service_has_no_steps(three):
    data = planned(three)
    service(data, "Base.A").update(changed=False, steps=["chart", "deploy"])
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == ("the plan does not match the repo: Base.A: steps in the plan [chart, deploy] but a "
                                 "plan makes []; make a new plan")


def test_skipping_the_build_needs_the_image_in_the_registry(three):
    data = planned(three)
    for s in data["services"]:
        s["steps"] = ["chart", "deploy"]
    ref_a = service(data, "Base.A")["image"]
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == (f"the plan skips building Base.A but its image {ref_a} is not in the registry "
                                 "(and 2 more); make a new plan")
    held = {s["image"]: s["fingerprint"] for s in data["services"]}
    assert set(check(three, data, Images(held))) == {"Base.A", "Base.B", "Shop.C"}


def test_an_image_with_another_fingerprint_does_not_count(three):
    data = planned(three)
    a = service(data, "Base.A")
    a["steps"] = ["chart", "deploy"]
    with pytest.raises(TarsError) as caught:
        check(three, data, Images({a["image"]: "0" * 64}))
    assert str(caught.value) == (f"the plan skips building Base.A but its image {a['image']} is not in the registry; "
                                 "make a new plan")


def test_building_without_pushing_outside_a_dry_run_needs_the_image_in_the_registry(three):
    data = planned(three)
    a = service(data, "Base.A")
    a["steps"] = ["build", "chart", "deploy"]
    with pytest.raises(TarsError) as caught:
        check(three, data)
    assert str(caught.value) == (f"the plan skips building Base.A but its image {a['image']} is not in the registry; "
                                 "make a new plan")
    assert set(check(three, data, dry_run=True)) == {"Base.A", "Base.B", "Shop.C"}  # a dry run builds it locally


def test_a_dry_run_may_use_the_local_engine_with_the_same_fingerprint(three):
    data = planned(three, dry_run=True)
    a = service(data, "Base.A")
    a["steps"] = ["chart", "deploy"]
    local = {a["image"]: {LABEL_FINGERPRINT: a["fingerprint"]}}
    assert set(check(three, data, Images(down=True), local=local.get)) == {"Base.A", "Base.B", "Shop.C"}
    other = {a["image"]: {LABEL_FINGERPRINT: "f" * 64}}
    with pytest.raises(TarsError) as caught:
        check(three, data, Images(down=True), local=other.get)
    assert str(caught.value) == (f"the plan skips building Base.A but its image {a['image']} cannot be confirmed in "
                                 "the registry (registry 127.0.0.1:5000 not reachable) nor in the local engine; "
                                 "make a new plan")


def test_the_saved_file_round_trips(three, tmp_path: Path):
    plan = Plan.from_json(planned(three))
    plan.save(tmp_path / "deep" / "p.json")
    assert Plan.load(tmp_path / "deep" / "p.json") == plan
