"""`invoke validate`: file problems of the selected services, then every one rendered by helm and checked.

Rendering runs one `helm template` for all services at once: their charts become subcharts of a throwaway
umbrella chart, and each rendered document names its subchart (`# Source: <umbrella>/charts/<name>/...`).
When that render fails, each service is rendered on its own to say which one and why.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

from tars_tasks.chart.package import package
from tars_tasks.core.errors import Problem
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.artifacts import resolve
from tars_tasks.validate.conformance import crd_problems, parse

UMBRELLA = "tars-tasks-validate"
_SOURCE = re.compile(rf"^# Source: {UMBRELLA}/charts/([^/]+)/", re.MULTILINE)


def split_by_subchart(text: str) -> dict[str, str]:
    """helm's multi-document output -> subchart name -> its documents."""
    out: dict[str, list[str]] = {}
    for doc in re.split(r"^---\s*$", text, flags=re.MULTILINE):
        m = _SOURCE.search(doc)
        if m:
            out.setdefault(m.group(1), []).append(doc)
    return {name: "\n---\n".join(docs) for name, docs in out.items()}


def render_problems(settings: Settings, services: Sequence[Service], crd_check: bool = True) -> list[Problem]:
    """Package and render every service; a chart that fails to render or breaks a CRD is a problem."""
    helm = Helm.from_settings(settings)
    artifacts = resolve(settings, services)
    crds = settings.path(settings.crds_dir)

    def check(service: Service, rendered: str) -> list[Problem]:
        if not crd_check:
            return []
        return [Problem(service.display, 1, 1, "", f"rendered {msg}") for msg in crd_problems(parse(rendered), crds)]

    def alone(service: Service, tmp: Path) -> list[Problem]:
        _, path = package(service, settings, artifacts[service.id].tag, tmp / "alone" / service.name)
        try:
            return check(service, helm.template(service.name, str(path), settings.namespace))
        except HelmError as exc:
            return [Problem(service.display, 1, 1, "", f"chart does not render: {exc}")]

    with TemporaryDirectory(prefix="tars-validate-") as tmp:
        umbrella = Path(tmp) / UMBRELLA
        (umbrella / "charts").mkdir(parents=True)
        (umbrella / "Chart.yaml").write_text(f"apiVersion: v2\nname: {UMBRELLA}\nversion: 0.0.0\n")
        for s in services:
            package(s, settings, artifacts[s.id].tag, umbrella / "charts")
        try:
            rendered = split_by_subchart(helm.template(UMBRELLA, str(umbrella), settings.namespace))
        except HelmError:
            with ThreadPoolExecutor(settings.jobs) as pool:
                return [p for ps in pool.map(lambda s: alone(s, Path(tmp)), services) for p in ps]
        problems = []
        for s in services:
            if s.name not in rendered:
                problems.append(Problem(s.display, 1, 1, "", "chart rendered no manifests"))
            else:
                problems.extend(check(s, rendered[s.name]))
        return problems
