"""The invoke tasks that operate what is deployed: status, diff, history, rollback, prune (tars_tasks/operate).

Same rules as cli/tasks.py: parse flags, call one library function, print (results to stdout, progress and
notes to stderr)."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from invoke import Context, Exit

from tars_tasks.cli.common import SERVICE_HELP, reports_errors, settings_of, tars_task
from tars_tasks.core.errors import UsageError

if TYPE_CHECKING:  # imported by the tasks that run, so `invoke --list` stays light
    from tars_tasks.core.services import Service
    from tars_tasks.project import Project

NS_HELP = "Kubernetes namespace (default: tars.namespace)"


def _one_service(project: Project, service: str | None) -> Service:
    if not service:
        raise UsageError("name the service with --service App.Server (see `invoke list`)")
    return project.select([service])[0]


@tars_task(iterable=["service"], help={"service": SERVICE_HELP, "namespace": NS_HELP, "json": "print JSON",
                                       "exit_code": "exit 1 when any service is not in sync"})
@reports_errors
def status(c: Context, service: list[str] | None = None, namespace: str | None = None, json_: bool = False,
           exit_code: bool = False) -> None:
    """Per service, what git would deploy against what runs, and a verdict.

    Verdicts: in sync / out of date / failed / unverified / pending / drifted / unhealthy / missing, and orphan
    for a release whose service is gone."""
    from tars_tasks.cli.output import status_text
    from tars_tasks.operate.status import status as status_of
    from tars_tasks.project import Project

    report = status_of(Project.load(settings_of(c)), service or [], namespace)
    print(status_text(report, json_), end="")
    off = [s for s in report.services if s.verdict != "in sync"]
    if exit_code and off:
        raise Exit(f"{len(off)} service(s) not in sync", code=1)


@tars_task(iterable=["service"], help={"service": SERVICE_HELP, "namespace": NS_HELP, "json": "print JSON",
                                  "exit_code": "exit 1 when anything differs (like `git diff --exit-code`)"})
@reports_errors
def diff(c: Context, service: list[str] | None = None, namespace: str | None = None, json_: bool = False,
         exit_code: bool = False) -> None:
    """Unified diff of the live manifests against what a release would apply (secrets masked).

    Only services that would change are shown."""
    from tars_tasks.cli.output import diff_text
    from tars_tasks.operate.diff import diff as diff_of
    from tars_tasks.project import Project

    diffs = diff_of(Project.load(settings_of(c)), service or [], namespace)
    print(diff_text(diffs, json_), end="")
    if not diffs:
        print("no differences", file=sys.stderr)
    elif exit_code:
        raise Exit(f"{len(diffs)} service(s) differ", code=1)


@tars_task(help={"service": "App.Server id (required)", "namespace": NS_HELP, "json": "print JSON"})
@reports_errors
def history(c: Context, service: str | None = None, namespace: str | None = None, json_: bool = False) -> None:
    """helm revisions of one service: time, status, chart version, image tag."""
    from tars_tasks.cli.output import history_text
    from tars_tasks.core.helm import Helm
    from tars_tasks.deploy.kube import Kube
    from tars_tasks.operate.history import revisions
    from tars_tasks.project import Project

    settings = settings_of(c)
    project = Project.load(settings)
    svc = _one_service(project, service)
    name = svc.name
    found = revisions(Helm.from_settings(settings), Kube.from_settings(settings), name,
                      namespace or settings.namespace)
    if not found:
        raise Exit(f"error: {name} was never installed in namespace {namespace or settings.namespace}", code=1)
    print(history_text(name, found, json_), end="")


@tars_task(help={"service": "App.Server id (required)", "namespace": NS_HELP, "json": "print a JSON report",
                 "to": "helm revision to go back to (default: the previous one that ran; see `invoke history`)"})
@reports_errors
def rollback(c: Context, service: str | None = None, to: str | None = None, namespace: str | None = None,
             json_: bool = False) -> None:
    """Roll one service back to an earlier helm revision and track it to Ready, reported like a deploy."""
    if to is not None and not str(to).isdigit():
        raise UsageError(f"--to {to}: a revision number (see `invoke history`)")
    from tars_tasks.cli.output import TableReporter, reporter
    from tars_tasks.core.escape import escape
    from tars_tasks.operate.history import rollback as rollback_of
    from tars_tasks.project import Project

    project = Project.load(settings_of(c))
    svc = _one_service(project, service)
    sid = svc.id
    _, report = rollback_of(project, svc, int(to) if to is not None else None, namespace,
                            progress=lambda msg: print(escape(f"{sid}: {msg}"), file=sys.stderr, flush=True))
    print(reporter(json_).report(report), end="")
    if json_:
        print(TableReporter().report(report), end="", file=sys.stderr)
    if not report.ok:
        raise Exit(f"{sid} is not ready after the rollback", code=1)


@tars_task(help={"namespace": NS_HELP, "json": "print JSON", "yes": "uninstall them (default: only list them)"})
@reports_errors
def prune(c: Context, namespace: str | None = None, yes: bool = False, json_: bool = False) -> None:
    """List the releases of this tool whose service no longer exists; uninstall them with --yes."""
    from tars_tasks.cli.interrupt import Interrupts
    from tars_tasks.cli.output import prune_text
    from tars_tasks.core.helm import Helm
    from tars_tasks.deploy.kube import Kube
    from tars_tasks.operate.prune import prune as prune_of
    from tars_tasks.operate.status import ORPHAN
    from tars_tasks.operate.status import status as status_of
    from tars_tasks.project import Project

    settings = settings_of(c)
    project = Project.load(settings)
    ns = namespace or settings.namespace
    orphans = [s for s in status_of(project, [], ns).services if s.verdict == ORPHAN]
    with Interrupts() as stop:  # a signal ends the wait for the framework's deletion guard; the report still prints
        results = prune_of(Helm.from_settings(settings), Kube.from_settings(settings), orphans, ns,
                           settings.helm_timeout, lambda msg: print(f"prune: {msg}", file=sys.stderr, flush=True),
                           stop.cancel) if yes and orphans else None
    print(prune_text(orphans, results, json_), end="", flush=True)
    if stop.received:
        raise Exit(f"interrupted by {stop.name}: a rerun of `invoke prune --yes` removes what is left", code=stop.code)
    if results and any(err for _, err in results):
        raise Exit("some orphaned releases could not be uninstalled", code=1)


TASKS: list[Any] = [status, diff, history, rollback, prune]  # added to the collection by cli/tasks.py
