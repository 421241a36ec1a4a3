"""`invoke validate`: file problems of the selected services, plus rendering them to CRDs."""
from __future__ import annotations

from typing import Sequence

from .errors import Problem
from .project import Project
from .services import Service


def check_project(project: Project, selected: Sequence[Service], render: bool = True) -> list[Problem]:
    problems = project.problems_for(selected)
    return problems
