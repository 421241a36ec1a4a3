"""`invoke validate`: file problems of the selected services, then each one rendered by helm and checked."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Sequence

from .artifacts import resolve
from .charts import package
from .errors import Problem
from .helm import Helm, HelmError
from .manifests import crd_problems, parse
from .project import Project
from .services import Service


def render_problems(project: Project, services: Sequence[Service]) -> list[Problem]:
    """Package and `helm template` each service; a chart that fails to render or breaks a CRD is a problem."""
    settings = project.settings
    helm = Helm(settings.helm_binary(), settings.kube_context)
    artifacts = resolve(settings, services)
    crds = Path(settings.crds_dir) if settings.crds_dir else None

    def one(service: Service, tmp: Path) -> list[Problem]:
        _, path = package(service, settings, artifacts[service.id].tag, tmp / service.name)
        try:
            manifests = parse(helm.template(service.name, str(path), settings.namespace))
        except HelmError as exc:
            return [Problem(service.display, 1, 1, "", f"chart does not render: {exc}")]
        if crds is None:
            return []
        return [Problem(service.display, 1, 1, "", f"rendered {msg}") for msg in crd_problems(manifests, crds)]

    with TemporaryDirectory(prefix="tars-validate-") as tmp, ThreadPoolExecutor(settings.jobs) as pool:
        results = list(pool.map(lambda s: one(s, Path(tmp)), services))
    return [p for r in results for p in r]


def check_project(project: Project, selected: Sequence[Service], render: bool = True) -> list[Problem]:
    problems = project.problems_for(selected)
    if render and not any(not p.warning for p in problems):
        problems = problems + render_problems(project, selected)
    return problems
