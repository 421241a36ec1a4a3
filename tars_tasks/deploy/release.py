"""The main job: plan (or load a saved plan), then run it; `deploy` is the same for named services."""
from __future__ import annotations

from pathlib import Path

from tars_tasks.build.artifacts import resolve
from tars_tasks.build.fingerprint import FileLister
from tars_tasks.build.images import ImageBuilder
from tars_tasks.build.registry import Registries
from tars_tasks.core.project import Project
from tars_tasks.deploy.helm import Helm
from tars_tasks.deploy.runner import Progress, Report, Runner
from tars_tasks.plan.model import Options, Plan, check_plan_still_applies, cluster_releases, make_plan


def plan_only(project: Project, opts: Options) -> Plan:
    helm = Helm.from_settings(project.settings)
    return make_plan(project, opts, helm=helm)[0]


def release(project: Project, opts: Options, jobs: int | None = None, fail_fast: bool = False,
            plan_file: Path | None = None, progress: Progress | None = None,
            on_plan=None) -> tuple[Plan, Report]:
    settings = project.settings
    helm = Helm.from_settings(project.settings)
    registries = Registries()
    lister = FileLister(settings.root)
    if plan_file is not None:
        plan = Plan.load(plan_file)
        ids = [p.id for p in plan.services]
        services = project.select(ids)
        project.require_valid(services)
        artifacts = resolve(settings, services, plan.tag, lister)
        check_plan_still_applies(plan, artifacts)
        opts.dry_run = opts.dry_run or plan.dry_run
        cluster_releases(helm, plan.namespace, opts.dry_run, plan.notes)  # reachable before any work starts
    else:
        plan, artifacts = make_plan(project, opts, helm=helm, registries=registries, lister=lister)
    if on_plan is not None:
        on_plan(plan)
    builder = ImageBuilder(settings, registries=registries, lister=lister,
                           progress=(lambda sid, msg: progress(sid, "image", msg)) if progress else None)
    runner = Runner(project, plan, artifacts, helm, builder, jobs or settings.jobs, opts.dry_run, fail_fast,
                    progress)
    return plan, runner.run()
