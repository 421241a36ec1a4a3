"""Planning as a library caller sees it: options are honoured as given and never changed."""
from __future__ import annotations

import dataclasses
import subprocess

import pytest

from support import Monorepo, init_git
from tars_tasks import Options, make_plan
from tars_tasks.core.errors import UsageError


class NoImages:
    """A registry that has no image yet (planning only asks `has`)."""

    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        return False


@pytest.fixture
def two(repo: Monorepo) -> Monorepo:
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    repo.service("Base", "B", "servants: [{name: BObj, port: 10001}]\ndependsOn: [Base.A]\n")
    repo.write("services/Base/A/a.txt", "a\n")
    repo.write("services/Base/B/b.txt", "b\n")
    init_git(repo.root)
    return repo


def test_namespace_option_is_the_plan_namespace(two):
    plan, _ = make_plan(two.load(), Options(namespace="staging"), registries=NoImages())
    assert plan.namespace == "staging"
    assert {s.id: s.reasons[0] for s in plan.services} == {"Base.A": "not deployed in namespace staging",
                                                          "Base.B": "not deployed in namespace staging"}
    assert make_plan(two.load(), Options(), registries=NoImages())[0].namespace == "tars"


def test_since_with_all_keeps_all(two):
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "nothing"], cwd=two.root, check=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})
    only_since = make_plan(two.load(), Options(since="HEAD~1"), registries=NoImages())[0]
    assert [s.changed for s in only_since.services] == [False, False]
    plan = make_plan(two.load(), Options(since="HEAD~1", force_all=True), registries=NoImages())[0]
    assert [(s.id, s.changed, s.reasons[0]) for s in plan.services] == [
        ("Base.A", True, "--all: deploy every selected service"),
        ("Base.B", True, "--all: deploy every selected service")]
    assert plan.services[0].steps == ["build", "push", "chart", "deploy"]


def test_options_are_frozen_and_copied():
    ids = ["Base.A"]
    opts = Options(ids=ids)
    ids.append("Base.B")
    assert opts.ids == ("Base.A",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.dry_run = True  # type: ignore[misc]


def test_flags_that_choose_are_named_for_a_saved_plan():
    assert Options().selects == []
    assert Options(ids=["A.B"], namespace="x", tag="t", force_all=True).selects == [
        "--service", "--all", "--tag"]  # --namespace is allowed: it must be the plan's (bound_to_this_run)


def test_with_dependents_adds_and_explains(two):
    two.write("services/Base/A/a.txt", "changed\n")
    subprocess.run(["git", "commit", "-qam", "a"], cwd=two.root, check=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})
    plan = make_plan(two.load(), Options(ids=["Base.A"], since="HEAD~1", with_dependents=True),
                     registries=NoImages())[0]
    assert [(s.id, s.wave, s.changed) for s in plan.services] == [("Base.A", 0, True), ("Base.B", 1, True)]
    assert plan.services[1].reasons[0] == "depends on changed Base.A"


def test_unknown_service_is_a_usage_error(two):
    with pytest.raises(UsageError):
        make_plan(two.load(), Options(ids=["Base.Nope"]), registries=NoImages())


def test_dependents_name_every_changed_service_below_them():
    from tars_tasks.plan.make import changed_below

    edges = {"top": ["left", "right"], "left": ["base"], "right": ["base", "other"], "base": [], "other": [],
             "solo": []}
    assert changed_below(["top", "left", "right", "solo"], edges, {"base", "other"}) == {
        "top": {"base", "other"}, "left": {"base"}, "right": {"base", "other"}, "base": set(), "other": set(),
        "solo": set()}


def test_dependents_below_agree_with_one_closure_each_on_a_random_graph():
    import random

    from tars_tasks.core.graph import closure
    from tars_tasks.plan.make import changed_below

    rng = random.Random(7)
    ids = [f"s{i}" for i in range(400)]
    edges = {s: rng.sample(ids[:i], min(i, rng.randint(0, 3))) for i, s in enumerate(ids)}  # acyclic
    origins = set(rng.sample(ids, 40))
    found = changed_below(ids, edges, origins)
    assert {s: set(found[s]) for s in ids} == {s: (closure([s], edges) - {s}) & origins for s in ids}
