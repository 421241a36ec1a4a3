"""A change to the monorepo's own chart (tars.chart_dir, e.g. helm-template/ as `init` writes it) is a change to
every service: with --since (git) and in content mode (every chart version changes)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from support import Monorepo, init_git
from tars_tasks import Options, make_plan
from tars_tasks.core import assets

SERVICES = ["Demo.A", "Demo.B", "Demo.C"]


class NoImages:
    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        return False


class Cluster:
    """`helm list` of a namespace: the releases given (name -> chart), all deployed."""

    def __init__(self, charts: dict[str, str] | None = None):
        self.charts = charts or {}

    def list_releases(self, namespace: str, selector: str = "") -> list[dict]:
        if selector:  # no release failed its rollout
            return []
        return [{"name": name, "chart": chart, "status": "deployed"} for name, chart in self.charts.items()]


@pytest.fixture
def mono(repo: Monorepo) -> Monorepo:
    """Three services and the monorepo's own copy of the chart at helm-template/, committed."""
    for i, server in enumerate(["A", "B", "C"]):
        repo.service("Demo", server, f"servants: [{{name: {server}Obj, port: {10000 + i}}}]\n")
        repo.write(f"services/Demo/{server}/main.txt", f"{server}\n")
    shutil.copytree(str(assets.chart_dir()), repo.root / "helm-template")
    init_git(repo.root)
    return repo


def commit(root, message: str) -> None:
    for argv in (["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)


def edit_chart(root) -> None:
    template = root / "helm-template" / "templates" / "tserver.yaml"
    template.write_text(template.read_text() + "# a change to the chart\n")


def changed(plan) -> dict[str, list[str]]:
    return {s.id: s.reasons for s in plan.services if s.changed}


def test_a_committed_chart_change_marks_every_service_changed_since_its_parent(mono):
    edit_chart(mono.root)
    commit(mono.root, "chart")
    plan, _ = make_plan(mono.load(chart_dir="helm-template"), Options(since="HEAD~1", dry_run=True),
                        registries=NoImages())
    assert sorted(changed(plan)) == SERVICES
    for reasons in changed(plan).values():
        assert reasons[0] == "changed since HEAD~1: helm-template/templates/tserver.yaml"

    mono.write("services/Demo/B/main.txt", "B2\n")  # a service's own change: that service only
    commit(mono.root, "B")
    plan, _ = make_plan(mono.load(chart_dir="helm-template"), Options(since="HEAD~1", dry_run=True),
                        registries=NoImages())
    assert sorted(changed(plan)) == ["Demo.B"]


def test_a_chart_folder_the_settings_do_not_name_changes_no_service(mono):
    """Without tars.chart_dir the services render with the tool's chart: editing an unused copy changes nothing."""
    edit_chart(mono.root)
    commit(mono.root, "unused chart")
    plan, _ = make_plan(mono.load(), Options(since="HEAD~1", dry_run=True), registries=NoImages())
    assert changed(plan) == {}


def test_a_chart_change_changes_every_chart_version_in_content_mode(mono):
    """Content mode compares chart versions with the cluster's: after an edit of the chart, in the same process
    (a library caller planning again), every service's version differs from what runs."""
    project = mono.load(chart_dir="helm-template")
    first, _ = make_plan(project, Options(), helm=Cluster(), registries=NoImages())  # type: ignore[arg-type]
    running = {s.id: s.chart for s in first.services}
    names = {sid: sid.lower().replace(".", "-") for sid in SERVICES}
    cluster = Cluster({names[sid]: chart for sid, chart in running.items()})
    same, _ = make_plan(mono.load(chart_dir="helm-template"), Options(), helm=cluster,  # type: ignore[arg-type]
                        registries=NoImages())
    assert changed(same) == {}

    edit_chart(mono.root)
    after, _ = make_plan(mono.load(chart_dir="helm-template"), Options(), helm=cluster,  # type: ignore[arg-type]
                         registries=NoImages())
    now = {s.id: s.chart for s in after.services}
    assert sorted(changed(after)) == SERVICES
    for sid in SERVICES:
        assert now[sid] != running[sid]
        assert now[sid].split("-r")[0] == running[sid].split("-r")[0]  # same release base, new chart digest
        assert changed(after)[sid][0] == f"cluster runs an older release ({running[sid]}, now {now[sid]})"
