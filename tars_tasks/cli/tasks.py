"""The invoke layer: parse flags, call one library function, print. Nothing else lives here.

Every task takes `--json` where it has a result (a JsonReporter instead of a TableReporter). Short flags
are off (`auto_shortflags=False`): the same letter meant different flags in different tasks.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit

from tars_tasks.cli.common import SERVICE_HELP, reports_errors, settings_of, tars_task
from tars_tasks.core.errors import TarsError, UsageError, errors_only
from tars_tasks.core.settings import parse_jobs

if TYPE_CHECKING:  # the project and the reporters are imported by the task that runs: `invoke --list` stays light
    from tars_tasks.project import Project


@tars_task(name="list", iterable=["service"],
           help={"json": "print a JSON list instead of a table", "service": SERVICE_HELP})
@reports_errors
def list_services(c: Context, service: list[str] | None = None, json_: bool = False) -> None:
    """List the services of the monorepo: id, path, template, dependsOn (no validation: see `invoke validate`)."""
    from tars_tasks.cli.output import reporter
    from tars_tasks.project import Project

    project = Project.load(settings_of(c))
    print(reporter(json_).listing(project.listing(service or [])), end="")
    unread = project.discovery.problems + project.unnamed()  # found while reading the files anyway (no schema)
    for problem in unread:  # a file that could not be read, or names no App.Server, is not listed: which, and why
        print(f"note: not listed: {problem}", file=sys.stderr)
    if unread:
        print("note: `invoke validate` checks everything", file=sys.stderr)


OVERWRITE_TAG_HELP = "replace an image tag that already holds other content (tags are immutable otherwise)"
REFRESH_HELP = ("ask the registry about every image tag again (tags it confirmed before are remembered in "
                "dist/cache/registry-tags.json)")
CRD_HELP = "check rendered manifests against the TarsCloud CRD schemas (default: on; tars.crds_dir overrides them)"


@tars_task(iterable=["service"], help={"service": SERVICE_HELP, "json": "print problems as JSON",
                                  "render": "also render each service's chart with helm (default: on)",
                                  "crd_check": CRD_HELP,
                                  "all_envs": "check every environment of tars.environments in one run"})
@reports_errors
def validate(c: Context, service: list[str] | None = None, json_: bool = False, render: bool = True,
             crd_check: bool = True, all_envs: bool = False) -> None:
    """Check every values.yaml and its overlays (schema, cross-field rules, dependency graph, rendered CRDs)."""
    from tars_tasks.cli.output import reporter
    from tars_tasks.project import Project, check_all_environments

    settings = settings_of(c)
    if all_envs:
        per_env = [settings_of(c, env) for env in settings.environments] or [settings]
        problems, count = check_all_environments(per_env, service or [], render=render, crd_check=crd_check)
        where = f" in each of {len(per_env)} environment(s)" if settings.environments else ""
    else:
        project = Project.load_selected(settings, service or [])
        selected = project.select(service or [])
        problems, count, where = project.check(selected, render=render, crd_check=crd_check), len(selected), ""
    errors = errors_only(problems)
    print(reporter(json_).problems(problems, count), end="")
    if errors:
        raise Exit(f"{len(errors)} error(s) in {len({p.file for p in errors})} file(s)", code=1)
    print(f"ok: {count} service(s) valid{where}", file=sys.stderr)


def _valid_selection(project: Project, service: list[str] | None) -> list[Any]:
    """The named services (default: all), refused with every located problem when any is invalid."""
    selected = project.select(service or [])
    project.require_valid(selected)
    return selected


@tars_task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag to release (default: the content fingerprint)"})
@reports_errors
def template(c: Context, service: list[str] | None = None, tag: str | None = None) -> None:
    """Print the rendered manifests (TServer, TConfig, TImage) of services, as multi-document YAML."""
    from tars_tasks.chart.render import render
    from tars_tasks.project import Project

    project = Project.load_selected(settings_of(c), service or [])
    texts = list(render(project.settings, _valid_selection(project, service), tag))  # nothing printed on failure
    for text in texts:
        sys.stdout.write(text)


@tars_task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag to release (default: the content fingerprint)",
                                  "out": "output folder (default: dist/charts)"})
@reports_errors
def chart(c: Context, service: list[str] | None = None, tag: str | None = None, out: str | None = None) -> None:
    """Package each service's chart as <out>/<app>-<server>-<version>.tgz and print its path."""
    from tars_tasks.chart.render import package_all
    from tars_tasks.project import Project

    project = Project.load_selected(settings_of(c), service or [])
    for path in package_all(project.settings, _valid_selection(project, service), tag,
                            Path(out) if out else None):
        print(path)


@tars_task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag (default: the content fingerprint; kept as a label either way)",
                                  "push": "push to the registry (default: on; --no-push builds locally)",
                                  "jobs": "parallel builds (default: tars.jobs)", "json": "print a JSON report",
                                  "overwrite_tag": OVERWRITE_TAG_HELP,
                                  "shard": "K/N: build only shard K of N (a stable split of the service ids; "
                                           "N parallel CI jobs share the work)", "refresh": REFRESH_HELP})
@reports_errors
def build(c: Context, service: list[str] | None = None, tag: str | None = None, push: bool = True,
          jobs: str | None = None, json_: bool = False, overwrite_tag: bool = False, shard: str | None = None,
          refresh: bool = False) -> None:
    """Build (and push) the images of services whose image tag is not in the registry yet."""
    import threading

    from tars_tasks.cli.interrupt import Interrupts
    from tars_tasks.cli.output import reporter
    from tars_tasks.core.escape import escape
    from tars_tasks.image.run import run_build
    from tars_tasks.image.shard import parse_shard
    from tars_tasks.project import Project

    part = parse_shard(shard) if shard is not None else None

    lock = threading.Lock()

    def progress(service_id: str, message: str) -> None:  # called from the build threads
        with lock:
            print(f"{escape(service_id)}: {escape(message)}", file=sys.stderr, flush=True)

    project = Project.load_selected(settings_of(c), service or [])  # --service X: X's files and its rules' needs
    selected = project.select(service or [])
    project.require_valid(selected)
    if refresh:
        forget_registry_tags(project.settings)
    with Interrupts() as stop:  # a signal: nothing new starts, compile steps are stopped, the report still prints
        results = run_build(project.settings, selected, tag=tag, push=push,
                            jobs=parse_jobs(jobs, "--jobs") if jobs else None, progress=progress,
                            overwrite_tag=overwrite_tag, shard=part, cancel=stop.cancel)
    if part is not None and not results:
        print(f"note: none of the {len(selected)} selected service(s) is in shard {shard}: nothing to build",
              file=sys.stderr)
    for r in results:
        print(r.summary(), file=sys.stderr)
    print(reporter(json_).images(results), end="", flush=True)
    if stop.received:
        stopped = sum(r.status.value == "interrupted" for r in results)
        raise Exit(f"interrupted by {stop.name}: {stopped} image(s) interrupted; a rerun continues", code=stop.code)
    failed = [r for r in results if not r.ok]
    if failed:
        raise Exit(f"{len(failed)} of {len(results)} image(s) failed", code=1)


PLAN_HELP = {
    "since": "git ref: a service changed when a file in its folder or build.inputs changed since REF",
    "all": "treat every selected service as changed (deploy all; images are still built only when missing)",
    "service": "App.Server id (repeatable; default: every service)",
    "with_dependents": "also the services that depend (transitively) on a changed one",
    "json": "print JSON instead of a table",
    "namespace": "Kubernetes namespace (default: tars.namespace)",
    "tag": "image tag for every service (default: each one's content fingerprint)",
    "repair": "undo what people changed in the cluster (replicas scaled, release switched); default: report and "
              "keep it (tars.drift)",
    "refresh": REFRESH_HELP,
}


REPLACE_HELP = "uninstall and install again a deployed service whose subtype or app/server changed " \
               "(the framework cannot change them; its pods restart)"


@tars_task(iterable=["service"], help={**PLAN_HELP, "out": "also save the plan to FILE (for `release --plan FILE`)",
                                  "dry_run": "plan for a dry run (no cluster needed)",
                                  "replace": REPLACE_HELP + "; a saved plan keeps it"})
@reports_errors
def plan(c: Context, since: str | None = None, all_: bool = False, service: list[str] | None = None,
         with_dependents: bool = False, json_: bool = False, out: str | None = None, namespace: str | None = None,
         tag: str | None = None, dry_run: bool = False, repair: bool = False, refresh: bool = False,
         replace: bool = False) -> None:
    """Show what changed and what each service needs (build, push, chart, deploy), wave by wave."""
    from tars_tasks.cli.output import reporter
    from tars_tasks.deploy.release import plan_only
    from tars_tasks.plan.model import Options
    from tars_tasks.project import Project

    project = Project.load(settings_of(c))
    if refresh:
        forget_registry_tags(project.settings)
    result = plan_only(project,
                       Options(ids=service or [], since=since, force_all=all_, with_dependents=with_dependents,
                               tag=tag, dry_run=dry_run, namespace=namespace, repair=repair, replace=replace))
    if out:
        result.save(Path(out))
        print(f"plan saved to {out}", file=sys.stderr)
    print(reporter(json_).plan(result), end="")


ROLLOUT_HELP = {
    "wait": "track every server to Ready (default: on; --no-wait: helm's own --wait, reported as not tracked)",
    "rollback": "roll a failed upgrade back to the last good revision (default: on)",
    "cleanup_on_fail": "uninstall a first install that failed (default: leave it for debugging)",
    "canary": "canary every changed service: percents of its pods in order, such as 25,50,100 (docs/canary.md)",
    "canary_pause": "with --canary: the pause between steps (30s, 2m) or manual (default: none)",
}


LOCK_HELP = {"lock_timeout": "seconds to wait for another run's release lock on the namespace (default 0: fail now)"}
RECORD_HELP = {"user": "who releases, on each TImage release record (default: values.yaml user, the CI user, git)",
               "reason": "why, on each TImage release record (default: values.yaml reason, the commit subject)"}


def _seconds_flag(value: str | None, flag: str) -> float:
    try:
        number = float(value or 0)
    except ValueError:
        raise UsageError(f"{flag}: {value!r} is not a number of seconds") from None
    if number < 0:
        raise UsageError(f"{flag}: {value!r} must not be negative")
    return number


def _run_release(c: Context, opts: Any, jobs: str | None, fail_fast: bool, json_: bool, plan_file: str | None = None,
                 crd_check: bool = True, wait: bool = True, rollback: bool = True,
                 cleanup_on_fail: bool = False, overwrite_tag: bool = False, lock_timeout: str | None = None,
                 force: bool = False, user: str | None = None, reason: str | None = None,
                 refresh: bool = False, canary: str | None = None, canary_pause: str | None = None,
                 resume: str = "", promote_to: int | None = None) -> None:
    """Run a release; SIGINT/SIGTERM start nothing new, stop helm and build children, and still print the
    (partial) report, exiting 130/143 once the lock is given up."""
    from tars_tasks.cli.interrupt import Interrupts
    from tars_tasks.cli.output import JsonReporter, ProgressView, TableReporter, reporter
    from tars_tasks.core.escape import escape
    from tars_tasks.deploy.canary import CanarySpec
    from tars_tasks.deploy.records import RecordInputs
    from tars_tasks.deploy.release import RunOptions, release
    from tars_tasks.deploy.rollout import RolloutPolicy
    from tars_tasks.plan.model import Plan
    from tars_tasks.project import Project

    if canary_pause and not canary:
        raise UsageError("--canary-pause goes with --canary STEPS (such as --canary 25,50,100)")
    spec = CanarySpec.from_flags(canary, canary_pause) if canary else None
    project = Project.load(settings_of(c))
    if refresh:
        forget_registry_tags(project.settings)
    views: list[ProgressView] = []

    def on_plan(p: Plan) -> None:
        print(TableReporter().plan(p), end="", file=sys.stderr)
        views.append(ProgressView([s.id for s in p.services if s.changed]))

    def progress(sid: str, step: str, msg: str) -> None:
        views[0](sid, step, msg)

    run = RunOptions(jobs=parse_jobs(jobs, "--jobs") if jobs else None, fail_fast=fail_fast,
                     plan_file=Path(plan_file) if plan_file else None, crd_check=crd_check, overwrite_tag=overwrite_tag,
                     policy=RolloutPolicy(track=wait, rollback=rollback, cleanup_on_fail=cleanup_on_fail,
                                          canary=spec, resume=resume, promote_to=promote_to),
                     lock_timeout=_seconds_flag(lock_timeout, "--lock-timeout"), force=force,
                     records=RecordInputs(user, reason))
    with Interrupts() as stop:
        try:
            _, report = release(project, opts, run, progress=progress, on_plan=on_plan, cancel=stop.cancel,
                                waiting=lambda msg: print(escape(msg), file=sys.stderr, flush=True))
        except TarsError as exc:
            if stop.received:  # e.g. a helm list stopped while planning
                raise Exit(f"interrupted ({exc})", code=stop.code) from None
            if json_:  # stdout is always one JSON document
                print(JsonReporter().failed_run(exc, exc.exit_code), end="", flush=True)
            raise
        finally:
            for view in views:
                view.close()
    print(reporter(json_).report(report), end="", flush=True)
    if json_:
        print(TableReporter().report(report), end="", file=sys.stderr)
    _exit_code(report, stop, resume)


def _exit_code(report: Any, stop: Any, resume: str = "") -> None:
    """Exit 130/143 after a signal, 1 when a service was not deployed or the lock was lost (an abort that backed
    out is what was asked), else 0."""
    from tars_tasks.core.escape import escape

    if stop.received:
        raise Exit(f"interrupted by {stop.name}: {report.counts().get('interrupted', 0)} service(s) interrupted; "
                   "a rerun continues", code=stop.code)
    if report.interrupted:  # not by a signal: the lock was lost (the note says whose it is now)
        raise Exit(f"{report.counts().get('interrupted', 0)} service(s) interrupted: "
                   f"{escape(report.notes[0]) if report.notes else 'the run was stopped'}", code=1)
    if report.lock_lost:  # the run ended without the lock it started with (found when giving it up)
        raise Exit(escape(next((n for n in report.notes if "release lock" in n), "the release lock was lost")),
                   code=1)
    if resume == "abort" and report.services and all(s.status.value == "aborted" for s in report.services):
        return  # backed out, as asked
    if not report.ok:
        bad = [s for s in report.services if s.status.value in ("failed", "skipped", "rolled-back", "aborted")]
        raise Exit(f"{len(bad)} service(s) not deployed", code=1)


FORCE_HELP = "deploy even when the cluster runs this release already, or when dependencies are not deployed"
BREAKING_HELP = {"allow_breaking": "deploy a breaking interface change even when clients it breaks are not "
                                   "rebuilt against it in this release",
                 "replace": REPLACE_HELP}


@tars_task(iterable=["service"], help={**PLAN_HELP, "jobs": "parallel builds and deploys (default: tars.jobs)",
                                  "dry_run": "deploy nothing: build locally (no push), render and check charts",
                                  "fail_fast": "stop starting new work after the first failure",
                                  "plan": "run exactly the plan saved by `invoke plan --out FILE`",
                                  "crd_check": CRD_HELP, "overwrite_tag": OVERWRITE_TAG_HELP, **ROLLOUT_HELP,
                                  **LOCK_HELP, **RECORD_HELP, **BREAKING_HELP})
@reports_errors
def release(c: Context, since: str | None = None, all_: bool = False, service: list[str] | None = None,
            with_dependents: bool = False, namespace: str | None = None, jobs: str | None = None,
            dry_run: bool = False, fail_fast: bool = False, json_: bool = False, tag: str | None = None,
            plan: str | None = None, crd_check: bool = True, wait: bool = True, rollback: bool = True,
            cleanup_on_fail: bool = False, overwrite_tag: bool = False, lock_timeout: str | None = None,
            user: str | None = None, reason: str | None = None, allow_breaking: bool = False,
            repair: bool = False, replace: bool = False, refresh: bool = False, canary: str | None = None,
            canary_pause: str | None = None) -> None:
    """Plan, then build, chart and deploy every changed service in dependency order, in parallel."""
    from tars_tasks.plan.model import Options

    opts = Options(ids=service or [], since=since, force_all=all_, with_dependents=with_dependents, tag=tag,
                   dry_run=dry_run, namespace=namespace, allow_breaking=allow_breaking, repair=repair,
                   replace=replace)
    _run_release(c, opts, jobs, fail_fast, json_, plan_file=plan, crd_check=crd_check, wait=wait, rollback=rollback,
                 cleanup_on_fail=cleanup_on_fail, overwrite_tag=overwrite_tag, lock_timeout=lock_timeout,
                 user=user, reason=reason, refresh=refresh, canary=canary, canary_pause=canary_pause)


@tars_task(iterable=["service"], help={"service": "App.Server id (repeatable, required)",
                                  "namespace": PLAN_HELP["namespace"], "tag": PLAN_HELP["tag"],
                                  "dry_run": "deploy nothing: build locally, render and check charts",
                                  "with_deps": "also bring their dependencies up first", "repair": PLAN_HELP["repair"],
                                  "jobs": "parallel builds and deploys", "json": "print a JSON report",
                                  "fail_fast": "stop starting new work after the first failure",
                                  "crd_check": CRD_HELP, "overwrite_tag": OVERWRITE_TAG_HELP, **ROLLOUT_HELP,
                                  **LOCK_HELP, "force": FORCE_HELP,
                                  **RECORD_HELP, **BREAKING_HELP, "refresh": REFRESH_HELP})
@reports_errors
def deploy(c: Context, service: list[str] | None = None, namespace: str | None = None, tag: str | None = None,
           dry_run: bool = False, with_deps: bool = False, jobs: str | None = None, json_: bool = False,
           fail_fast: bool = False, crd_check: bool = True, wait: bool = True, rollback: bool = True,
           cleanup_on_fail: bool = False, overwrite_tag: bool = False, lock_timeout: str | None = None,
           force: bool = False, user: str | None = None, reason: str | None = None,
           allow_breaking: bool = False, repair: bool = False, replace: bool = False,
           refresh: bool = False, canary: str | None = None, canary_pause: str | None = None) -> None:
    """Build (if needed), chart and deploy the named services (the release pipeline for a few services)."""
    from tars_tasks.plan.model import Options

    if not service:
        raise UsageError("name at least one service with --service App.Server (see `invoke list`)")
    opts = Options(ids=service, force_ids=service, redeploy=force, with_deps=with_deps, tag=tag, dry_run=dry_run,
                   namespace=namespace, allow_breaking=allow_breaking, repair=repair, replace=replace)
    _run_release(c, opts, jobs, fail_fast, json_, crd_check=crd_check, wait=wait, rollback=rollback,
                 cleanup_on_fail=cleanup_on_fail, overwrite_tag=overwrite_tag, lock_timeout=lock_timeout, force=force,
                 user=user, reason=reason, refresh=refresh, canary=canary, canary_pause=canary_pause)


CANARY_HELP = {"service": "App.Server id whose paused canary this is (required)",
               "namespace": PLAN_HELP["namespace"], "json": "print a JSON report", **LOCK_HELP}


def _canary_command(c: Context, resume: str, service: str | None, namespace: str | None, json_: bool,
                    lock_timeout: str | None, step: str | None = None) -> None:
    """promote/abort: a deploy of the one service that goes on from (or backs out of) its recorded canary step."""
    from tars_tasks.plan.model import Options

    if not service:
        raise UsageError(f"name the service whose canary to {resume} with --service App.Server (`invoke status` "
                         "shows paused canaries)")
    promote_to = None
    if step is not None:
        if not str(step).isdigit() or int(step) < 1:
            raise UsageError(f"--step: {step!r} must be a step number from 1")
        promote_to = int(step)
    opts = Options(ids=[service], force_ids=[service], redeploy=True, namespace=namespace)
    _run_release(c, opts, None, False, json_, lock_timeout=lock_timeout, force=True, resume=resume,
                 promote_to=promote_to)


@tars_task(help={**CANARY_HELP, "step": "go on to this step and pause there again (default: every remaining step)"})
@reports_errors
def promote(c: Context, service: str | None = None, step: str | None = None, namespace: str | None = None,
            json_: bool = False, lock_timeout: str | None = None) -> None:
    """Go on with a canary paused at a step (pause: manual): the next steps, checked, to 100% or to --step."""
    _canary_command(c, "promote", service, namespace, json_, lock_timeout, step)


@tars_task(help=CANARY_HELP)
@reports_errors
def abort(c: Context, service: str | None = None, namespace: str | None = None, json_: bool = False,
          lock_timeout: str | None = None) -> None:
    """Back out of a canary paused at a step: helm rollback to the revision before it, tracked to Ready."""
    _canary_command(c, "abort", service, namespace, json_, lock_timeout)


def forget_registry_tags(settings: Any) -> None:
    """`--refresh`."""
    from tars_tasks.image.tag_memory import forget_confirmed

    forget_confirmed(settings.dist_path, settings.root)


def preflight(tasks_file: str, argv: list[str] | None = None, environ: dict[str, str] | None = None) -> None:
    """Called by a project's tasks.py: a broken invoke.yaml, or a broken file given with `invoke -f FILE`, is a
    located error and exit 2, not a traceback in invoke. invoke imports tasks.py before it reads -f, so the
    file is found here the way invoke will find it: -f/--config in the arguments, else INVOKE_RUNTIME_CONFIG."""
    from tars_tasks.core.settings import check_config_file

    folder = Path(tasks_file).resolve().parent
    problems = [check_config_file(folder / name) for name in ("invoke.yaml", "invoke.yml")]
    runtime = runtime_config_arg(sys.argv[1:] if argv is None else argv,
                                 os.environ if environ is None else environ)
    if runtime:
        problems.append(check_runtime_config(Path(runtime)))
    for message in problems:
        if message:
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(2)


def runtime_config_arg(argv: list[str], environ: Mapping[str, str]) -> str | None:
    """The file invoke will load as its runtime config: the last -f/--config before `--`, or the environment's."""
    found: str | None = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg in ("-f", "--config") and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith("--config="):
            found = arg.split("=", 1)[1]
        elif arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            found = arg[2:]
    return found or environ.get("INVOKE_RUNTIME_CONFIG") or None


def check_runtime_config(path: Path) -> str | None:
    """A message when the -f file is missing, of a type invoke cannot load, or would crash invoke's loading."""
    from tars_tasks.core.settings import check_config_file

    if path.suffix == ".py":
        return None  # invoke runs it; what it sets is checked with the other settings
    if path.suffix not in (".yaml", ".yml", ".json"):
        return f"{path}: -f takes a .yaml, .yml, .json or .py file"
    if not path.is_file():
        return f"{path}: -f names a file that does not exist"
    if path.suffix == ".json":
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            return f"{path}:1:1: cannot read: {exc}"
        except json.JSONDecodeError as exc:
            return f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"
        if not isinstance(data, dict) or not isinstance(data.get("tars", {}), dict):
            return f"{path}:1:1: expected a mapping with a `tars:` mapping of settings"
        return None
    message = check_config_file(path)
    return message.replace(path.name, str(path), 1) if message and message.startswith(path.name) else message


@tars_task(name="install-helm", help={"dest": "where to put helm (default: ~/.local/share/tars-tasks/bin/helm)",
                                 "force": "install even when a helm is on PATH"})
@reports_errors
def install_helm(c: Context, dest: str | None = None, force: bool = False) -> None:
    """Install the pinned helm (v4.1.4, sha256-checked) where every monorepo finds it."""
    from tars_tasks.install_helm import install

    print(install(Path(dest) if dest else None, force=force), file=sys.stderr)


TASKS = (list_services, validate, template, chart, build, plan, release, deploy, promote, abort, install_helm)
