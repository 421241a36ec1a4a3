"""`invoke validate`: file problems of the selected services, then every one rendered by helm and checked.

Rendering goes through chart/umbrella.py: a few hundred charts per helm process, as many processes as cores.
When a batch fails to render, each of its services is rendered on its own to say which one and why.
"""
from __future__ import annotations

from collections.abc import Sequence

from tars_tasks.chart.umbrella import render_each
from tars_tasks.core.errors import Problem
from tars_tasks.core.helm import HelmError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.validate.conformance import crd_problems, parse


def render_problems(settings: Settings, services: Sequence[Service], crd_check: bool = True) -> list[Problem]:
    """Package and render every service; a chart that fails to render or breaks a CRD is a problem."""
    crds = settings.path(settings.crds_dir)
    problems = []
    for service, rendered in render_each(settings, services):
        if isinstance(rendered, HelmError):
            problems.append(Problem(service.display, 1, 1, "", f"chart does not render: {rendered}"))
        elif not rendered:
            problems.append(Problem(service.display, 1, 1, "", "chart rendered no manifests"))
        elif crd_check:
            problems.extend(Problem(service.display, 1, 1, "", f"rendered {msg}")
                            for msg in crd_problems(parse(rendered), crds))
    return problems
