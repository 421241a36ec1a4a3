"""What `invoke validate` checks of interfaces: every .tars file parses, every interface has one owner, every
copy of an owned definition means what the owner's says, and every call to another service is declared in
`dependsOn` (a warning: the deploy order cannot be trusted without it).

Problems are located in the file that has to change: a stale copy at the copy, naming the owner's file and
the first difference; an undeclared call at the calling line.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.interfaces.cache import cache_path
from tars_tasks.interfaces.calls import first_calls, undeclared_call_problem
from tars_tasks.interfaces.catalog import Catalog, Copy, load
from tars_tasks.interfaces.sources import services_folder


def stale_copy_problem(c: Copy, difference: str) -> Problem:
    original = c.original
    return Problem(c.copy.file, c.copy.line, c.copy.col, "",
                   f"{c.copy.full_name} is a stale copy of {original.file}:{original.line} (owned by {c.owner}), "
                   f"which differs: {difference}")


def stale_copies(catalog: Catalog) -> list[Problem]:
    out = []
    for c in catalog.copies:
        difference = c.difference()
        if difference is not None:
            out.append(stale_copy_problem(c, difference))
    return out


def undeclared_calls(catalog: Catalog, services: Sequence[Service]) -> list[Problem]:
    by_id = {s.id: s for s in services}
    out = []
    for (caller, callee), call in sorted(first_calls(catalog.calls).items()):
        service = by_id.get(caller)
        if service is not None and callee not in service.depends_on:
            out.append(undeclared_call_problem(call, service))
    return out


def validate_interfaces(settings: Settings, services: Sequence[Service], selected: Sequence[Service]) -> list[Problem]:
    """`invoke validate`'s interface problems of the ``selected`` services."""
    return interface_problems(settings.root, services_folder(settings), services, selected, cache_path(settings))


def _covered(path: str, inputs: object) -> bool:
    entries = [i.strip("/") for i in inputs if isinstance(i, str)] if isinstance(inputs, list) else []
    return any(e in ("", ".") or path == e or path.startswith(e + "/") for e in entries)


def uncovered_includes(catalog: Catalog, services: Sequence[Service]) -> list[Problem]:
    """An #include of a .tars file outside the service's folder that `build.inputs` does not list: the image
    build cannot see it, and a change to it would not change the image tag (shared files are build.inputs)."""
    by_id = {s.id: s for s in services}
    out = []
    for path in sorted(catalog.files):
        sid = catalog.homes.of(path)
        service = by_id.get(sid or "")
        if service is None:
            continue
        build = service.values.get("build")
        inputs = build.get("inputs") if isinstance(build, dict) else None
        for inc in catalog.files[path].includes:
            if inc.resolved and catalog.homes.of(inc.resolved) != sid and not _covered(inc.resolved, inputs):
                out.append(Problem(path, inc.line, inc.col, "",
                                   f"includes {inc.resolved}, outside {sid}'s folder: list it in build.inputs "
                                   f"({service.display}) so the image build sees it and a change to it rebuilds "
                                   "the image", warning=True))
    return out


def interface_problems(root: Path, services_dir: str, services: Sequence[Service],
                       selected: Sequence[Service], cache_file: Path | None = None) -> list[Problem]:
    """The interface problems of the ``selected`` services (all of them: every problem, also those of .tars
    files outside every service folder)."""
    named = [s for s in services if s.app and s.server]
    everything = {s.id for s in selected} >= {s.id for s in named}
    catalog = load(root, services_dir, services, callers=None if everything else {s.id for s in selected},
                   cache_file=cache_file)
    problems = (catalog.problems + stale_copies(catalog) + undeclared_calls(catalog, named)
                + uncovered_includes(catalog, named))
    if not everything:
        wanted = {s.id for s in selected}
        problems = [p for p in problems if catalog.homes.of(p.file) in wanted]
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.path, p.message))
