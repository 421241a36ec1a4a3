"""The Desired side of the one comparison (state/compare.py): what git would deploy — the selected services,
each with its artifact (image tag) and packaged chart — built by one function and frozen: nothing downstream
can change what was asked for. plan builds its own the same way (plan/make.py: select, add_artifacts)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tars_tasks.chart.package import Chart
from tars_tasks.core.files import FileLister
from tars_tasks.core.services import Service
from tars_tasks.image.artifacts import Artifact
from tars_tasks.plan.make import Draft, select
from tars_tasks.plan.model import Options
from tars_tasks.project import Project


@dataclass(frozen=True)
class Desired:
    namespace: str
    services: tuple[Service, ...]  # sorted by id
    artifacts: Mapping[str, Artifact]  # service id -> artifact (read-only)
    charts: Mapping[str, Chart]  # service id -> packaged chart (read-only)

    def chart_ref(self, service: Service) -> str:
        """<release name>-<chart version>, as `helm list` shows what runs."""
        return f"{service.name}-{self.charts[service.id].version}"


def desired(project: Project, ids: list[str], namespace: str) -> Desired:
    """What git would deploy for the named services (default: all): plan's own first steps (the selection is
    checked valid, secrets resolved, artifacts and charts computed), frozen."""
    draft = Draft(project, Options(ids=ids, namespace=namespace), namespace, FileLister(project.settings.root))
    select(draft)
    draft.add_artifacts(draft.selected)
    return Desired(namespace, tuple(sorted(draft.selected, key=lambda s: s.id)),
                   MappingProxyType(dict(draft.artifacts)), MappingProxyType(dict(draft.charts)))
