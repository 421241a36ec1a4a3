"""The interface checks of a few named services that hold no .tars file, without reading the whole monorepo.

`validate --service X` checks X's interfaces (checks.py). Most of those checks are about .tars files: X's
own parse, its copies of other services' definitions, the interfaces it serves, its includes. A service
whose folder holds no .tars file and none of whose servants names an `interface:` has none of those
problems: it serves nothing and copies nothing. Only one check is left, the calls its source makes to other
services (`App.Server.Obj` object names, calls.py) that its dependsOn does not declare. Those need the
servants of the services X's source names, not of every service: the names the source writes are found
first (the same regular expression as the scan), and only the values files of the services they name are
read (their servants, with the environment's overlays). Anything else gets the whole check (None here).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Discovery, Service, display_path, find_values_files, read_values
from tars_tasks.core.settings import Settings
from tars_tasks.core.yamlfile import YamlFileError
from tars_tasks.interfaces.calls import (
    first_calls,
    object_names,
    read_source,
    scan,
    undeclared_call_problem,
    written_names,
)
from tars_tasks.interfaces.owners import servants
from tars_tasks.interfaces.sources import IDL_SUFFIX, relative_folder, tracked_files


def calls_only_problems(settings: Settings, selected: Sequence[Service],
                        files_by_id: Mapping[str, str]) -> list[Problem] | None:
    """The interface problems of ``selected`` when none of them holds a .tars file or names an interface
    (``files_by_id``: every service id -> its values.yaml, relative to the services folder), else None: the
    caller runs the whole check."""
    sources: dict[str, list[str]] = {}
    for service in selected:
        if any(isinstance(s.get("interface"), str) and s.get("interface") for _, s in servants(service)):
            return None
        folder = relative_folder(service, settings.root)
        if not folder:
            return None
        listed = tracked_files(settings.root, folder)
        if any(f.endswith(IDL_SUFFIX) for f in listed):
            return None
        nested = [str(p.parent.relative_to(settings.root).as_posix()) + "/"
                  for p in find_values_files(service.dir) if p.parent != service.dir]
        sources[service.id] = [f for f in listed if not any(f.startswith(n) for n in nested)]
    callees = _named_services(settings, sources, files_by_id)
    if callees is None:
        return None
    calls = scan(settings.root, sources, object_names(callees))
    by_id = {s.id: s for s in selected}
    problems = [undeclared_call_problem(call, by_id[caller]) for (caller, callee), call in
                sorted(first_calls(calls).items()) if callee not in by_id[caller].depends_on]
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.path, p.message))


def _named_services(settings: Settings, sources: Mapping[str, list[str]],
                    files_by_id: Mapping[str, str]) -> list[Service] | None:
    """The services (values merged for the environment) whose `App.Server` the sources write, in any case;
    None when one of their files cannot be read (the whole check reports it as it does)."""
    from tars_tasks.core.environments import apply_environment

    lowered: dict[str, str] = {}
    for sid in files_by_id:
        lowered[sid.lower()] = "" if sid.lower() in lowered else sid  # ids equal ignoring case: a collision
    named: set[str] = set()
    top = str(settings.root)
    for files in sources.values():
        for path in files:
            data = read_source(os.path.join(top, path))
            for name in written_names(data or b""):
                pair = name.rpartition(b".")[0].decode("ascii", "replace")
                if pair in lowered:
                    if not lowered[pair]:
                        return None
                    named.add(lowered[pair])
    found: list[Service] = []
    for sid in sorted(named):
        file = settings.services_path / files_by_id[sid]
        display = display_path(file, settings.root)
        try:
            values, text = read_values(file, display, settings.root, settings.max_values_bytes)
        except YamlFileError:
            return None
        found.append(Service.of(file, display, values, text))
    overlays = [p for s in found for p in s.dir.glob("values.*.yaml")]
    return apply_environment(Discovery(found, [], overlays), settings).services
