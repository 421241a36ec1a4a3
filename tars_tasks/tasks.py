"""The invoke layer: parse flags, call one library function, print. Nothing else lives here."""
from __future__ import annotations

import functools
import json
import sys

from invoke import Collection, Exit, task

from .errors import InputError, TarsError
from .project import Project
from .settings import DEFAULTS, Settings


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
    from .listing import listing_rows, render_table

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
    from .checks import check_project

    project = Project.load(settings_of(c))
    selected = project.select(service or [])
    problems = check_project(project, selected, render=render)
    errors = [p for p in problems if not p.warning]
    if json_:
        print(json.dumps({"valid": not errors, "services": len(selected), "problems": [p.to_json() for p in problems]},
                         indent=2))
    else:
        for p in problems:
            print(p)
    if errors:
        raise Exit(f"{len(errors)} error(s) in {len({p.file for p in errors})} file(s)", code=1)
    print(f"ok: {len(selected)} service(s) valid", file=sys.stderr)


def _one_or_more(project, service):
    if not service:
        from .errors import UsageError
        raise UsageError("name at least one service with --service App.Server (see `invoke list`)")
    selected = project.select(service)
    project.require_valid(selected)
    return selected


@task(iterable=["service"], help={"service": "App.Server id (repeatable)",
                                  "tag": "image tag to release (default: the content fingerprint)"})
@reports_errors
def template(c, service=None, tag=None):
    """Print the rendered manifests (TServer, TConfig, TImage) of services, as multi-document YAML."""
    from .rendering import render

    project = Project.load(settings_of(c))
    for text in render(project, _one_or_more(project, service), tag):
        sys.stdout.write(text)


@task(iterable=["service"], help={"service": "App.Server id (repeatable)",
                                  "tag": "image tag to release (default: the content fingerprint)",
                                  "out": "output folder (default: dist/charts)"})
@reports_errors
def chart(c, service=None, tag=None, out=None):
    """Package each service's chart as <out>/<app>-<server>-<version>.tgz and print its path."""
    from pathlib import Path

    from .rendering import package_all

    project = Project.load(settings_of(c))
    for path in package_all(project, _one_or_more(project, service), tag, Path(out) if out else None):
        print(path)


@task(iterable=["service"], help={"service": "App.Server id (repeatable; default: all)",
                                  "tag": "image tag (default: the content fingerprint; kept as a label either way)",
                                  "push": "push to the registry (default: on; --no-push builds locally)",
                                  "jobs": "parallel builds (default: tars.jobs)", "json": "print a JSON report"})
@reports_errors
def build(c, service=None, tag=None, push=True, jobs=None, json_=False):
    """Build (and push) the images of services whose image tag is not in the registry yet."""
    from .build import run_build

    project = Project.load(settings_of(c))
    selected = project.select(service or [])
    project.require_valid(selected)
    results = run_build(project, selected, tag=tag, push=push, jobs=int(jobs) if jobs else None)
    if json_:
        print(json.dumps({"images": [r.to_json() for r in results]}, indent=2))
    failed = [r for r in results if not r.ok]
    if failed:
        raise Exit(f"{len(failed)} of {len(results)} image(s) failed", code=1)


ns = Collection(list_services, validate, template, chart, build)
ns.configure({"tars": DEFAULTS})
