"""The invoke tasks of interfaces: `graph` (who depends on whom, declared and called) and `interfaces` (who
owns and who uses each .tars interface; what changed since a ref, breaking or not)."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from invoke import Context, Exit

from tars_tasks.cli.common import reports_errors, settings_of, tars_task
from tars_tasks.core.errors import UsageError, errors_only
from tars_tasks.core.escape import escape
from tars_tasks.core.redact import redacted_json

if TYPE_CHECKING:  # the parser (lark) and the project are imported by the tasks that run, not by `invoke --list`
    from tars_tasks.interfaces.graph import Graph, Suggestion
    from tars_tasks.interfaces.report import InterfacesReport

FORMATS = ("text", "json", "dot", "svg")


def graph_text(graph: Graph) -> str:
    from tars_tasks.cli.output import table

    rows = [("SERVICE", "DEPENDS ON", "DECLARED", "CALLED AT")]
    for e in graph.edges:
        at = f"{e.call.written} {e.call.where()}" if e.call else "-"
        rows.append((e.caller, e.callee, "yes" if e.declared else "NO", at))
    lonely = [sid for sid in graph.services if not graph.from_service(sid)]
    return table(rows) + (f"no dependencies: {escape(', '.join(lonely))}\n" if lonely else "")


def suggestion_text(suggestions: list[Suggestion], cycles: list[list[str]]) -> str:
    if not suggestions:
        return "# every call is declared in dependsOn\n"
    out = []
    for s in suggestions:
        called = {c.callee: c for c in s.added}
        out.append(f"# {escape(s.file)}\ndependsOn:\n")
        for dep in s.depends_on:
            why = (f"  # new: calls {called[dep].written} at {called[dep].where()}" if dep in called
                   else "  # declared, no call found" if dep in s.uncalled else "")
            out.append(f"  - {escape(dep + why)}\n")
    for cycle in cycles:
        out.append(f"# warning: these lists make a dependency cycle: {escape(' -> '.join(cycle + [cycle[0]]))}\n")
    return "".join(out)


@tars_task(help={"format": "text (default), json, dot (Graphviz) or svg (drawn by Graphviz's dot)",
                 "suggest": "print the dependsOn lists that would match the calls found (text or json)"})
@reports_errors
def graph(c: Context, format: str = "text", suggest_: bool = False) -> None:
    """Show dependsOn as declared and the calls found in each service's source, side by side."""
    if format not in FORMATS:
        raise UsageError(f"--format {format!r}: expected one of {', '.join(FORMATS)}")
    if suggest_ and format in ("dot", "svg"):
        raise UsageError(f"--suggest prints dependsOn lists, not a drawing: use it with --format text or json, "
                         f"not --format {format}")
    from tars_tasks.interfaces.graph import build, service_calls, suggest, to_dot, to_svg
    from tars_tasks.interfaces.sources import services_folder
    from tars_tasks.project import Project

    project = Project.load(settings_of(c))
    settings = project.settings
    found = build(project.services, service_calls(settings.root, services_folder(settings), project.services))
    if suggest_ and format == "json":
        suggestions, cycles = suggest(found)
        print(redacted_json({"suggestions": [s.to_json() for s in suggestions], "cycles": cycles}), end="")
    elif suggest_:
        print(suggestion_text(*suggest(found)), end="")
    elif format == "json":
        print(redacted_json(found.to_json()), end="")
    elif format == "dot":
        print(to_dot(found), end="")
    elif format == "svg":
        print(to_svg(to_dot(found)), end="")
    else:
        print(graph_text(found), end="")


def interfaces_text(report: InterfacesReport) -> str:
    from tars_tasks.cli.output import notes, table

    rows = [("INTERFACE", "OWNER", "DEFINED AT", "CLIENT", "HOW")]
    for r in report.rows:
        uses = [(sid, how) for sid, hows in sorted(r.clients.items()) for how in hows] or [("-", "")]
        for i, (sid, how) in enumerate(uses):  # one line per use; the interface named on its first
            head = (r.interface, r.owner or "(no owner)", f"{r.file}:{r.line}") if i == 0 else ("", "", "")
            rows.append((*head, sid, how))
    out = table(rows)
    since = report.since
    if since is not None:
        out += f"\nchanges since {since.ref}:\n" if since.definitions else f"\nno interface changed since {since.ref}\n"
        for d in since.definitions:
            for change in d.changes:
                out += escape(f"  {change.kind:<10}  {change.subject}: {change.message}  ({d.file}, owner "
                              f"{d.owner or '-'})") + "\n"
        out += notes(since.notes)
    return out


@tars_task(help={"since": "git ref: also list the changes of owned definitions since REF, breaking or compatible",
                 "json": "print JSON instead of a table",
                 "check": "exit 1 when a change since REF is breaking (for merge requests; needs --since)"})
@reports_errors
def interfaces(c: Context, since: str | None = None, json_: bool = False, check: bool = False) -> None:
    """List every .tars interface, its owner and its clients; with --since, what changed and whether it breaks."""
    if check and since is None:
        raise UsageError("--check compares with a base: give --since REF")
    from tars_tasks.interfaces.report import interfaces_report
    from tars_tasks.plan.changes import changed_files
    from tars_tasks.project import Project

    project = Project.load(settings_of(c))
    changed = changed_files(project.settings.root, since) if since is not None else []  # says why a ref is bad
    report = interfaces_report(project.settings, project.services, since, changed)
    print(redacted_json(report.to_json()) if json_ else interfaces_text(report), end="")
    for p in report.problems:
        print(p, file=sys.stderr)
    breaking = report.since.breaking if report.since is not None else []
    errors = errors_only(report.problems)  # a file that does not parse: the list is incomplete
    if errors or (check and breaking):
        said = [f"{len(errors)} problem(s) in .tars files"] if errors else []
        if check and breaking:
            said.append(f"{sum(len(d.breaking) for d in breaking)} breaking interface change(s) since {since}")
        raise Exit("; ".join(said), code=1)


TASKS = (graph, interfaces)
