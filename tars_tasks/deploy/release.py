"""The main job: plan (or load a saved plan), then run it. `deploy` is the same for named services."""
from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tars_tasks.core.errors import UsageError
from tars_tasks.core.files import FileLister
from tars_tasks.core.helm import Helm
from tars_tasks.deploy.report import Report, ServiceReport
from tars_tasks.deploy.rollout import RolloutPolicy
from tars_tasks.deploy.runner import Runner
from tars_tasks.deploy.steps import Progress, Steps
from tars_tasks.image.artifacts import Artifact, resolve
from tars_tasks.image.images import ImageBuilder
from tars_tasks.image.registry import Registries
from tars_tasks.plan.make import cluster_releases, make_plan
from tars_tasks.plan.model import Options, Plan, check_plan_still_applies
from tars_tasks.project import Project


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan (what to plan is Options)."""

    jobs: int | None = None  # None: tars.jobs
    fail_fast: bool = False
    plan_file: Path | None = None  # run exactly this saved plan
    crd_check: bool = True
    policy: RolloutPolicy = RolloutPolicy()  # tracking to Ready, rollback, cleanup of a failed first install


def plan_only(project: Project, opts: Options) -> Plan:
    return make_plan(project, opts, helm=Helm.from_settings(project.settings))[0]


def load_saved_plan(project: Project, opts: Options, plan_file: Path, helm: Helm,
                    lister: FileLister) -> tuple[Plan, dict[str, Artifact], Options]:
    """A saved plan, refused when flags try to change it or when its services' files changed since."""
    if opts.selects:
        raise UsageError(f"--plan runs exactly the saved plan: drop {', '.join(opts.selects)} "
                         "(or make a new plan with them)")
    plan = Plan.load(plan_file)
    services = project.select([p.id for p in plan.services])
    project.require_valid(services)
    artifacts = resolve(project.settings, services, plan.tag, lister)
    check_plan_still_applies(plan, {sid: a.fingerprint for sid, a in artifacts.items()})
    opts = dataclasses.replace(opts, dry_run=opts.dry_run or plan.dry_run)
    cluster_releases(helm, plan.namespace, opts.dry_run, plan.notes)  # reachable before any work starts
    return plan, artifacts, opts


def release(project: Project, opts: Options, run: RunOptions = RunOptions(), progress: Progress | None = None,
            on_plan: Callable[[Plan], None] | None = None, cancel: threading.Event | None = None
            ) -> tuple[Plan, Report]:
    """Plan (or load ``run.plan_file``), then build, chart and deploy what changed. ``on_plan`` sees the plan
    before any work starts; setting ``cancel`` starts nothing new (the report says interrupted)."""
    settings = project.settings
    helm = Helm.from_settings(settings)
    registries = Registries()
    lister = FileLister(settings.root)
    if run.plan_file is not None:
        plan, artifacts, opts = load_saved_plan(project, opts, run.plan_file, helm, lister)
    else:
        plan, artifacts = make_plan(project, opts, helm=helm, registries=registries, lister=lister)
    if on_plan is not None:
        on_plan(plan)
    say = progress or (lambda sid, step, msg: None)
    builder = ImageBuilder(settings, registries=registries, lister=lister,
                           progress=lambda sid, msg: say(sid, "image", msg))
    reports = {p.id: ServiceReport(p.id, image=p.image) for p in plan.services}
    steps = Steps(settings, plan, artifacts, helm, builder, reports, opts.dry_run,
                  settings.dist_path / "charts", run.crd_check, say, run.policy)
    runner = Runner(plan, steps, run.jobs or settings.jobs, run.fail_fast, cancel)
    return plan, runner.run()
