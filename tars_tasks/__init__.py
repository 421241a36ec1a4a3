"""tars-tasks: build, chart and deploy a monorepo of TARS services to Kubernetes.

The public API, usable without invoke::

    from tars_tasks import Options, Project, Settings, make_plan, release

    project = Project.load(Settings.from_mapping({"root": "/path/to/monorepo"}))
    plan, report = release(project, Options(since="origin/main", with_dependents=True))

Everything else is internal and may change between versions.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module: imported on first use, so `invoke --list` and `import tars_tasks.tasks` stay fast
_PUBLIC = {
    "InputError": "tars_tasks.core.errors", "Problem": "tars_tasks.core.errors",
    "TarsError": "tars_tasks.core.errors", "UsageError": "tars_tasks.core.errors",
    "Project": "tars_tasks.project", "Settings": "tars_tasks.core.settings",
    "RunOptions": "tars_tasks.deploy.release", "plan_only": "tars_tasks.deploy.release",
    "release": "tars_tasks.deploy.release", "Report": "tars_tasks.deploy.report",
    "ServiceReport": "tars_tasks.deploy.report", "ServiceStatus": "tars_tasks.deploy.report",
    "make_plan": "tars_tasks.plan.make", "Options": "tars_tasks.plan.model", "Plan": "tars_tasks.plan.model",
    "ServicePlan": "tars_tasks.plan.model", "Step": "tars_tasks.plan.model",
}

__all__ = [
    "InputError", "Options", "Plan", "Problem", "Project", "Report", "RunOptions", "ServicePlan", "ServiceReport",
    "ServiceStatus", "Settings", "Step", "TarsError", "UsageError", "__version__", "make_plan",
    "plan_only", "release",
]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'tars_tasks' has no attribute {name!r}")


if TYPE_CHECKING:  # pragma: no cover
    from tars_tasks.core.errors import InputError, Problem, TarsError, UsageError
    from tars_tasks.core.settings import Settings
    from tars_tasks.deploy.release import RunOptions, plan_only, release
    from tars_tasks.deploy.report import Report, ServiceReport, ServiceStatus
    from tars_tasks.plan.make import make_plan
    from tars_tasks.plan.model import Options, Plan, ServicePlan, Step
    from tars_tasks.project import Project
