"""`invoke list`: one row per service."""
from __future__ import annotations

from collections.abc import Sequence

from tars_tasks.core.project import Project


def listing_rows(project: Project, ids: Sequence[str]) -> list[dict]:
    root = project.settings.root
    return [{"id": s.id, "path": str(s.dir.relative_to(root)) if s.dir.is_relative_to(root) else str(s.dir),
             "template": s.template, "dependsOn": s.depends_on}
            for s in project.select(ids)]
