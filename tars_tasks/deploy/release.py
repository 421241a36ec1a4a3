"""The main job: take the namespace's release lock, plan (or load a saved plan), then run it. `deploy` is the
same for named services.

The lock (deploy/lock.py) is taken before planning, so a run that waited for another plans against what that
one left. A dry run takes no lock. Without any kubeconfig (nor a service account) there is no API to hold
a Lease on; the plan then says the lock was not taken.
"""
from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tars_tasks.core.errors import TarsError, UsageError
from tars_tasks.core.escape import escape
from tars_tasks.core.files import FileLister
from tars_tasks.core.helm import Helm, seconds
from tars_tasks.core.settings import Settings
from tars_tasks.deploy.kube import Kube, KubeError, cluster_configured, current_context
from tars_tasks.deploy.lock import ReleaseLock
from tars_tasks.deploy.records import RecordInputs, Records
from tars_tasks.deploy.report import Report, ServiceReport
from tars_tasks.deploy.rollout import RolloutPolicy
from tars_tasks.deploy.runner import Runner
from tars_tasks.deploy.steps import Progress, Steps
from tars_tasks.image.artifacts import Artifact
from tars_tasks.image.images import ImageBuilder
from tars_tasks.image.registry import Registries
from tars_tasks.interfaces.impact import plan_impact
from tars_tasks.plan import saved
from tars_tasks.plan.make import cluster_releases, make_plan
from tars_tasks.plan.model import Options, Plan
from tars_tasks.project import Project


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan (what to plan is Options)."""

    jobs: int | None = None  # None: tars.jobs
    fail_fast: bool = False
    plan_file: Path | None = None  # run exactly this saved plan
    crd_check: bool = True
    policy: RolloutPolicy = RolloutPolicy()  # tracking to Ready, rollback, cleanup of a failed first install
    lock_timeout: float = 0.0  # seconds to wait for another run's release lock (0: fail at once)
    force: bool = False  # `deploy --force`: deploy even when dependencies are not deployed
    overwrite_tag: bool = False  # replace an image tag that holds other content (tags are immutable otherwise)
    records: RecordInputs = RecordInputs()  # --user / --reason: who and why, on each TImage release record


def kube_for_plan(settings: Settings, dry_run: bool) -> Kube | None:
    """The client the plan checks the framework's rules with (plan/cluster_rules.py); None in a dry run."""
    return None if dry_run or not cluster_configured() else Kube.from_settings(settings)


def plan_only(project: Project, opts: Options) -> Plan:
    return make_plan(project, opts, helm=Helm.from_settings(project.settings),
                     kube=kube_for_plan(project.settings, opts.dry_run))[0]


def load_saved_plan(project: Project, opts: Options, plan_file: Path, helm: Helm, lister: FileLister,
                    registries: Registries | None = None) -> tuple[Plan, dict[str, Artifact], Options]:
    """A saved plan, refused when flags try to change it, when it differs from what the repo says now, or
    when it skips building an image that does not exist (plan/saved.py)."""
    if opts.selects:
        raise UsageError(f"--plan runs exactly the saved plan: drop {', '.join(opts.selects)} "
                         "(or make a new plan with them)")
    plan = Plan.load(plan_file)
    bound_to_this_run(plan, plan_file, project.settings, opts)
    opts = dataclasses.replace(opts, dry_run=opts.dry_run or plan.dry_run)
    own = registries or Registries.of(project.settings)
    artifacts = saved.check(plan, project, lister, own, opts.dry_run)
    if registries is None:
        own.memory.save()
    cluster_releases(helm, plan.namespace, opts.dry_run, plan.notes)  # reachable before any work starts
    return plan, artifacts, opts


def bound_to_this_run(plan: Plan, plan_file: Path, settings: Settings, opts: Options) -> None:
    """A saved plan runs only where it was made for: its environment, namespace and kube context are this
    run's (a plan file is input anyone may have edited: its namespace is never taken from it alone)."""
    env = settings.env
    if plan.env != env:
        raise UsageError(f"{plan_file}: the plan was made for {_env_name(plan.env)}, this run is for "
                         f"{_env_name(env)} (--env): make a new plan")
    namespace = opts.namespace or settings.namespace
    if plan.namespace != namespace:
        raise UsageError(f"{plan_file}: the plan was made for namespace {escape(plan.namespace)}, this run is for "
                         f"namespace {namespace} (--namespace, else tars.namespace): make a new plan for this "
                         "namespace (a plan made with `plan --namespace N` runs with `release --plan FILE "
                         "--namespace N`)")
    context = current_context(settings.kube_context)
    if plan.kube_context != context:
        raise UsageError(f"{plan_file}: the plan was made for kube context {_context_name(plan.kube_context)}, this "
                         f"run is for kube context {_context_name(context)} (tars.kube_context, else the kubeconfig's "
                         "current-context): make a new plan against this cluster")


def _context_name(context: str) -> str:
    return escape(context) if context else "(none)"


def _env_name(env: str) -> str:
    return f"environment {env}" if env else "the base settings (no --env)"


def refuse_breaking(plan: Plan, opts: Options) -> None:
    """A breaking interface change is deployed only with the clients it breaks, or with --allow-breaking."""
    if plan.breaking and not opts.allow_breaking:
        raise UsageError("refusing to release a breaking interface change:\n  " + "\n  ".join(plan.breaking)
                         + "\nrelease the clients with it (rebuilt against the new interface), or pass "
                         "--allow-breaking")


def release_lock(settings: Settings, namespace: str, wait: float, cancel: threading.Event,
                 waiting: Callable[[str], None] = lambda msg: None) -> ReleaseLock | None:
    """The namespace's release lock, taken (None: no Kubernetes API configured at all). An unreachable cluster
    is a usage error, as for helm. ``waiting`` hears who holds it and how long this run still waits."""
    if not cluster_configured():
        return None
    lock = ReleaseLock(Kube.from_settings(settings), namespace,
                       duration=seconds(settings.lock_duration), wait=wait, cancel=cancel,
                       on_lost=lambda why: cancel.set(), waiting=waiting)
    try:
        lock.acquire()
    except KubeError as exc:
        raise UsageError(f"cluster not reachable (use --dry-run to work without one): {exc}") from None
    return lock


def release(project: Project, opts: Options, run: RunOptions = RunOptions(), progress: Progress | None = None,
            on_plan: Callable[[Plan], None] | None = None, cancel: threading.Event | None = None,
            waiting: Callable[[str], None] = lambda msg: None) -> tuple[Plan, Report]:
    """Take the namespace's lock, plan (or load ``run.plan_file``), then build, chart and deploy what changed.
    ``on_plan`` sees the plan before any work starts; setting ``cancel`` starts nothing new (the report says
    interrupted); the lock is given up however the run ends. What goes wrong after the run (giving the lock up
    on a cluster that went away) and a lock lost mid-run are notes on the report, which is always returned."""
    settings = project.settings
    cancel = cancel if cancel is not None else threading.Event()
    saved = Plan.load(run.plan_file) if run.plan_file is not None else None
    dry_run = opts.dry_run or (saved is not None and saved.dry_run)
    namespace = opts.namespace or settings.namespace  # a saved plan's must be the same (bound_to_this_run)
    lock = None if dry_run else release_lock(settings, namespace, run.lock_timeout, cancel, waiting)
    try:
        plan, report = _release(project, opts, run, progress, on_plan, cancel, unlocked=not dry_run and lock is None)
    except BaseException:
        with contextlib.suppress(Exception):  # the error that ended the run is the one to tell
            if lock is not None:
                lock.release()
        raise
    if lock is not None:
        if lock.lost:
            report.notes.append(lock.lost)
        try:
            lock.release()
        except TarsError as exc:
            report.notes.append(f"the release lock could not be given up ({exc}): it expires "
                                f"{seconds(settings.lock_duration):.0f}s after its last renewal")
    return plan, report


def _release(project: Project, opts: Options, run: RunOptions, progress: Progress | None,
             on_plan: Callable[[Plan], None] | None, cancel: threading.Event, unlocked: bool) -> tuple[Plan, Report]:
    settings = project.settings
    helm = Helm.from_settings(settings)
    registries = Registries.of(settings, run.overwrite_tag)
    lister = FileLister(settings.root)
    if run.plan_file is not None:
        plan, artifacts, opts = load_saved_plan(project, opts, run.plan_file, helm, lister, registries)
        # the plan file has no base to compare interfaces with; the copies its servers break are still known
        impact = plan_impact(settings, project.services, None)
        impact.require_parsed({s.id for s in plan.services})
        plan.breaking = impact.unreleased({s.id for s in plan.services if s.changed})
    else:
        plan, artifacts = make_plan(project, opts, helm=helm, registries=registries, lister=lister,
                                    check_deps=not run.force, require_cluster=True,
                                    kube=kube_for_plan(settings, opts.dry_run))
    registries.memory.save()  # the tags the plan confirmed, whatever the builds do
    refuse_breaking(plan, opts)
    if unlocked:
        plan.notes.append("no kubeconfig: the namespace's release lock was not taken")
    if on_plan is not None:
        on_plan(plan)
    say = progress or (lambda sid, step, msg: None)
    builder = ImageBuilder(settings, registries=registries, lister=lister, jobs=run.jobs or settings.jobs,
                           progress=lambda sid, msg: say(sid, "image", msg))
    reports = {p.id: ServiceReport(p.id, image=p.image) for p in plan.services}
    steps = Steps(settings, plan, artifacts, helm, builder, reports, opts.dry_run,
                  settings.dist_path / "charts", run.crd_check, say, dataclasses.replace(run.policy, cancel=cancel))
    steps.records = Records(settings.root, run.records)
    runner = Runner(plan, steps, run.jobs or settings.jobs, run.fail_fast, cancel)
    try:
        return plan, runner.run()
    finally:
        registries.memory.save()  # and the tags its pushes confirmed
