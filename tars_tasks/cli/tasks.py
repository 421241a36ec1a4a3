"""The invoke layer: parse flags, call one library function, print. Nothing else lives here."""
from __future__ import annotations

import functools
import json
import sys

from invoke import Collection, Exit, task

from tars_tasks.core.errors import InputError, TarsError
from tars_tasks.core.project import Project
from tars_tasks.core.settings import COLLECTION_DEFAULTS, Settings, parse_jobs


def _plain(value):
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def settings_of(c) -> Settings:
    return Settings.from_mapping(_plain(c.config.get("tars", {})))


def reports_errors(fn):
    """Turn expected failures into a one-line message and an exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        try:
            return fn(c, *args, **kwargs)
        except InputError as exc:
            for p in exc.problems:
                print(p, file=sys.stderr)
            raise Exit(f"{len(exc.problems)} problem(s) found", code=1) from None
        except TarsError as exc:
            raise Exit(f"error: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None

    return wrapper


SERVICE_HELP = "App.Server id of a service; repeat for several (default: all)"


@task(name="list", iterable=["service"], help={"json": "print a JSON list instead of a table", "service": SERVICE_HELP})
@reports_errors
def list_services(c, service=None, json_=False):
    """List the services of the monorepo: id, path, template, dependsOn."""
    from tars_tasks.core.listing import listing_rows, render_table

    project = Project.load(settings_of(c))
    rows = listing_rows(project, service or [])
    if json_:
        print(json.dumps(rows, indent=2))
    else:
        print(render_table(rows), end="")
    if project.problems:
        print(f"note: {len(project.problems)} problem(s) found; run `invoke validate`", file=sys.stderr)


@task(iterable=["service"], help={"service": SERVICE_HELP, "json": "print problems as JSON",
                                  "render": "also render each service's chart with helm (default: on)"})
@reports_errors
def validate(c, service=None, json_=False, render=True):
    """Check every values.yaml (schema, cross-field rules, dependency graph, rendered CRDs)."""
    from tars_tasks.validate.render import check_project
    from tars_tasks.validate.schema import errors_only

    project = Project.load(settings_of(c))
    selected = project.select(service or [])
    problems = check_project(project, selected, render=render)
    errors = errors_only(problems)
    if json_:
        print(json.dumps({"valid": not errors, "services": len(selected), "problems": [p.to_json() for p in problems]},
                         indent=2))
    else:
        for p in problems:
            print(p)
    if errors:
        raise Exit(f"{len(errors)} error(s) in {len({p.file for p in errors})} file(s)", code=1)
    print(f"ok: {len(selected)} service(s) valid", file=sys.stderr)


def _valid_selection(project, service):
    """The named services (default: all), refused with every located problem when any is invalid."""
    selected = project.select(service or [])
    project.require_valid(selected)
    return selected


@task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag to release (default: the content fingerprint)"})
@reports_errors
def template(c, service=None, tag=None):
    """Print the rendered manifests (TServer, TConfig, TImage) of services, as multi-document YAML."""
    from tars_tasks.chart.render import render

    project = Project.load(settings_of(c))
    for text in render(project, _valid_selection(project, service), tag):
        sys.stdout.write(text)


@task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag to release (default: the content fingerprint)",
                                  "out": "output folder (default: dist/charts)"})
@reports_errors
def chart(c, service=None, tag=None, out=None):
    """Package each service's chart as <out>/<app>-<server>-<version>.tgz and print its path."""
    from pathlib import Path

    from tars_tasks.chart.render import package_all

    project = Project.load(settings_of(c))
    for path in package_all(project, _valid_selection(project, service), tag, Path(out) if out else None):
        print(path)


@task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag (default: the content fingerprint; kept as a label either way)",
                                  "push": "push to the registry (default: on; --no-push builds locally)",
                                  "jobs": "parallel builds (default: tars.jobs)", "json": "print a JSON report"})
@reports_errors
def build(c, service=None, tag=None, push=True, jobs=None, json_=False):
    """Build (and push) the images of services whose image tag is not in the registry yet."""
    from tars_tasks.build.run import run_build

    project = Project.load(settings_of(c))
    selected = project.select(service or [])
    project.require_valid(selected)
    results = run_build(project, selected, tag=tag, push=push, jobs=parse_jobs(jobs, "--jobs") if jobs else None)
    if json_:
        print(json.dumps({"images": [r.to_json() for r in results]}, indent=2))
    failed = [r for r in results if not r.ok]
    if failed:
        raise Exit(f"{len(failed)} of {len(results)} image(s) failed", code=1)


def _project(c, namespace=None):
    import dataclasses

    settings = settings_of(c)
    if namespace:
        settings = dataclasses.replace(settings, namespace=namespace)
    return Project.load(settings)


PLAN_HELP = {
    "since": "git ref: a service changed when a file in its folder or build.inputs changed since REF",
    "all": "treat every selected service as changed (deploy all; images are still built only when missing)",
    "service": "App.Server id (repeatable; default: every service)",
    "with_dependents": "also the services that depend (transitively) on a changed one",
    "json": "print JSON instead of a table",
    "namespace": "Kubernetes namespace (default: tars.namespace)",
    "tag": "image tag for every service (default: each one's content fingerprint)",
}


@task(iterable=["service"], help={**PLAN_HELP, "out": "also save the plan to FILE (for `release --plan FILE`)",
                                  "dry_run": "plan for a dry run (no cluster needed)"})
@reports_errors
def plan(c, since=None, all_=False, service=None, with_dependents=False, json_=False, out=None, namespace=None,
         tag=None, dry_run=False):
    """Show what changed and what each service needs (build, push, chart, deploy), wave by wave."""
    from pathlib import Path

    from tars_tasks.cli.output import plan_table
    from tars_tasks.deploy.release import plan_only
    from tars_tasks.plan.model import Options

    project = _project(c, namespace)
    result = plan_only(project, Options(ids=service or [], since=since, force_all=all_,
                                        with_dependents=with_dependents, tag=tag, dry_run=dry_run))
    if out:
        result.save(Path(out))
        print(f"plan saved to {out}", file=sys.stderr)
    if json_:
        data = result.to_json()
        print(json.dumps({"services": data["services"], "waves": data["waves"],
                          **{k: v for k, v in data.items() if k not in ("services", "waves")}}, indent=2))
    else:
        print(plan_table(result), end="")


def _run_release(c, opts, jobs, fail_fast, json_, plan_file=None):
    from pathlib import Path

    from tars_tasks.cli.output import ProgressView, plan_table, report_table
    from tars_tasks.deploy.release import release as run

    project = _project(c, opts.namespace)
    view = {}

    def on_plan(p):
        print(plan_table(p), end="", file=sys.stderr)
        view["v"] = ProgressView([s.id for s in p.services if s.changed])

    def progress(sid, step, msg):
        view["v"](sid, step, msg)

    try:
        _, report = run(project, opts, jobs=parse_jobs(jobs, "--jobs") if jobs else None, fail_fast=fail_fast,
                        plan_file=Path(plan_file) if plan_file else None, progress=progress, on_plan=on_plan)
    finally:
        if "v" in view:
            view["v"].close()
    if json_:
        print(json.dumps(report.to_json(), indent=2))
        print(report_table(report), end="", file=sys.stderr)
    else:
        print(report_table(report), end="")
    if not report.ok:
        bad = [s for s in report.services if s.status in ("failed", "skipped")]
        raise Exit(f"{len(bad)} service(s) not deployed", code=1)


@task(iterable=["service"], help={**PLAN_HELP, "jobs": "parallel builds and deploys (default: tars.jobs)",
                                  "dry_run": "deploy nothing: build locally (no push), render and check charts",
                                  "fail_fast": "stop starting new work after the first failure",
                                  "plan": "run exactly the plan saved by `invoke plan --out FILE`"})
@reports_errors
def release(c, since=None, all_=False, service=None, with_dependents=False, namespace=None, jobs=None,
            dry_run=False, fail_fast=False, json_=False, tag=None, plan=None):
    """Plan, then build, chart and deploy every changed service in dependency order, in parallel."""
    from tars_tasks.plan.model import Options

    opts = Options(ids=service or [], since=since, force_all=all_, with_dependents=with_dependents, tag=tag,
                   dry_run=dry_run, namespace=namespace)
    _run_release(c, opts, jobs, fail_fast, json_, plan_file=plan)


@task(iterable=["service"], help={"service": "App.Server id (repeatable, required)",
                                  "namespace": PLAN_HELP["namespace"], "tag": PLAN_HELP["tag"],
                                  "dry_run": "deploy nothing: build locally, render and check charts",
                                  "with_deps": "also bring their dependencies up first",
                                  "jobs": "parallel builds and deploys", "json": "print a JSON report",
                                  "fail_fast": "stop starting new work after the first failure"})
@reports_errors
def deploy(c, service=None, namespace=None, tag=None, dry_run=False, with_deps=False, jobs=None, json_=False,
           fail_fast=False):
    """Build (if needed), chart and deploy the named services (the release pipeline for a few services)."""
    from tars_tasks.core.errors import UsageError
    from tars_tasks.plan.model import Options

    if not service:
        raise UsageError("name at least one service with --service App.Server (see `invoke list`)")
    opts = Options(ids=service, force_ids=service, with_deps=with_deps, tag=tag, dry_run=dry_run, namespace=namespace)
    _run_release(c, opts, jobs, fail_fast, json_)


def preflight(tasks_file: str) -> None:
    """Called by a project's tasks.py: a broken invoke.yaml is a located error, not a traceback in invoke."""
    from pathlib import Path

    from tars_tasks.core.settings import check_config_file

    folder = Path(tasks_file).resolve().parent
    for name in ("invoke.yaml", "invoke.yml"):
        message = check_config_file(folder / name)
        if message:
            print(f"error: {message}", file=sys.stderr)
            raise SystemExit(2)


ns = Collection(list_services, validate, template, chart, build, plan, release, deploy)
ns.configure({"tars": COLLECTION_DEFAULTS})
