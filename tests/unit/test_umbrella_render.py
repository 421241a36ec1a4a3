"""Charts rendered in bounded batches (chart/umbrella.py): the bytes of per-service `helm template`, in order;
a failing batch names its failing service; never more helm processes than workers, nor charts than a batch."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

import tars_tasks.chart.umbrella as umbrella
from support import REPO_ROOT
from tars_tasks.chart.package import package
from tars_tasks.chart.render import render
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.image.artifacts import resolve
from tars_tasks.project import Project


def _per_service(project, services, tmp: Path) -> list[str]:
    """What `invoke template` printed before: one `helm template` of each packaged chart."""
    helm = Helm.from_settings(project.settings)
    artifacts = resolve(project.settings, services)
    out = []
    for s in services:
        _, path = package(s, project.settings, artifacts[s.id].tag, tmp / s.name)
        out.append(helm.template(s.name, str(path), project.settings.namespace))
    return out


@pytest.mark.parametrize("batch", [1, 3, 200])
def test_batched_render_is_byte_identical_to_per_service_helm_template(helm_bin, tmp_path, monkeypatch, batch):
    project = Project.load(_sample_settings())
    services = project.select([])
    monkeypatch.setattr(umbrella, "BATCH", batch)
    expected = _per_service(project, services, tmp_path)
    calls = []
    monkeypatch.setattr(Helm, "template", lambda self, *a, real=Helm.template: calls.append(a) or real(self, *a))
    got = list(render(project.settings, services))
    assert len(calls) == -(-7 // batch)  # one helm per batch
    assert len(got) == 7 and all(got)
    assert got == expected  # same bytes, same order (shop-cartserver has hooks: printed after its manifests)


def _sample_settings():
    from tars_tasks.core.settings import Settings

    return Settings.from_mapping({"root": str(REPO_ROOT)})


def _breaks_on(monkeypatch, server: str) -> None:
    """The chart fails to render for one server only."""
    import tars_tasks.chart.package as charts_mod
    from tars_tasks.chart.package import ChartTemplate

    real = charts_mod.load_template()
    fail = f'{{{{ if eq .Values.server "{server}" }}}}{{{{ fail "boom" }}}}{{{{ end }}}}\n'.encode()
    files = tuple((rel, fail + data if rel == "templates/tserver.yaml" else data) for rel, data in real.files)
    monkeypatch.setattr(charts_mod, "load_template", lambda path="", stamp=(): ChartTemplate(files, real.meta, "y" * 64))


def test_a_failing_batch_is_rendered_service_by_service_to_name_the_failure(repo, helm_bin, monkeypatch):
    for i in range(5):
        repo.service("A", f"S{i}")
    _breaks_on(monkeypatch, "S3")
    project = repo.load()
    services = project.select([])
    results = list(umbrella.render_each(project.settings, services, batch=2))
    assert [s.id for s, _ in results] == ["A.S0", "A.S1", "A.S2", "A.S3", "A.S4"]
    failed = [s.id for s, text in results if isinstance(text, HelmError)]
    assert failed == ["A.S3"]
    assert all("kind: TServer" in text for s, text in results if s.id != "A.S3")
    assert "boom" in str(results[3][1])
    problems = [str(p) for p in project.check(services)]
    assert len(problems) == 1 and problems[0].startswith("services/A/S3/values.yaml:1:1: chart does not render: `")
    with pytest.raises(HelmError, match="boom"):
        list(render(project.settings, services))


def test_at_most_one_helm_per_worker_and_one_batch_per_helm(repo, helm_bin, monkeypatch):
    for i in range(9):
        repo.service("A", f"S{i}")
    project = repo.load(jobs="2")
    lock = threading.Lock()
    running, most, charts = [0], [0], []
    real = Helm.template

    def counting(self, release, chart, namespace):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            charts.append(len(list((Path(chart) / "charts").iterdir())))
        try:
            return real(self, release, chart, namespace)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(Helm, "template", counting)
    results = list(umbrella.render_each(project.settings, project.select([]), batch=2))
    assert len(results) == 9 and all(isinstance(t, str) and t for _, t in results)
    assert sorted(charts) == [1, 2, 2, 2, 2]  # five helm processes for nine charts
    assert most[0] <= umbrella.workers(project.settings) <= 2


def test_many_batches_are_checked_in_worker_processes_with_the_same_problems(repo, helm_bin, tmp_path, monkeypatch):
    """More than one batch: the CRD checks run in spawned processes; problems come back in order, located."""
    import json
    import shutil

    import tars_tasks.validate.render as validate_render
    from support import CRDS_DIR

    crds = tmp_path / "crds"
    shutil.copytree(CRDS_DIR, crds)
    schema = json.loads((crds / "tserver.v1beta3.schema.json").read_text())
    schema["properties"]["spec"]["properties"]["k8s"]["properties"]["replicas"]["maximum"] = 1
    (crds / "tserver.v1beta3.schema.json").write_text(json.dumps(schema))
    for i in range(7):
        repo.service("A", f"S{i}", "replicas: 5\n" if i in (1, 5) else "replicas: 1\n")
    _breaks_on(monkeypatch, "S3")
    monkeypatch.setattr(umbrella, "BATCH", 2)
    monkeypatch.setattr(validate_render, "BATCH", 2)
    spawned = []
    real_pool = validate_render.ProcessPoolExecutor
    monkeypatch.setattr(validate_render, "ProcessPoolExecutor", lambda *a, **k: spawned.append(a) or real_pool(*a, **k))
    project = repo.load(crds_dir=str(crds))
    problems = [str(p) for p in project.check(project.services)]
    assert spawned
    assert problems[0] == ("services/A/S1/values.yaml:1:1: rendered TServer/a-s1: spec.k8s.replicas: 5 is greater "
                           "than the maximum of 1")
    assert problems[1].startswith("services/A/S3/values.yaml:1:1: chart does not render: `") and "boom" in problems[1]
    assert problems[2] == ("services/A/S5/values.yaml:1:1: rendered TServer/a-s5: spec.k8s.replicas: 5 is greater "
                           "than the maximum of 1")
    assert len(problems) == 3
