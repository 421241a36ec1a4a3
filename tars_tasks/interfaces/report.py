"""`invoke interfaces`: every interface of the monorepo, who owns it and who depends on it (copies,
includes, calls); with a ref, the changes of owned definitions since, classified breaking or compatible."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.interfaces.cache import cache_path
from tars_tasks.interfaces.catalog import Catalog, load
from tars_tasks.interfaces.impact import Since, since
from tars_tasks.interfaces.model import Interface
from tars_tasks.interfaces.sources import services_folder


@dataclass(frozen=True)
class Row:
    interface: str  # Module.Name
    owner: str | None  # App.Server.Servant serving it (None: nobody does)
    file: str  # the owner's file (or the first file defining it)
    line: int
    clients: dict[str, list[str]]  # service -> how it depends on the interface

    def to_json(self) -> dict:
        return {"interface": self.interface, "owner": self.owner, "file": self.file, "line": self.line,
                "clients": [{"service": sid, "how": how} for sid, how in sorted(self.clients.items())]}


@dataclass
class InterfacesReport:
    rows: list[Row]
    problems: list[Problem]  # .tars files that do not parse, ownership errors
    since: Since | None

    def to_json(self) -> dict:
        out: dict = {"interfaces": [r.to_json() for r in self.rows],
                     "problems": [p.to_json() for p in self.problems]}
        if self.since is not None:
            out["since"] = {"ref": self.since.ref, "notes": self.since.notes,
                            "breaking": sum(len(d.breaking) for d in self.since.definitions),
                            "changes": [{"definition": d.name, "owner": d.owner, "file": d.file, "kind": c.kind,
                                         "subject": c.subject, "message": c.message}
                                        for d in self.since.definitions for c in d.changes]}
        return out


def rows(catalog: Catalog) -> list[Row]:
    every: dict[str, Interface] = {}
    for path in sorted(catalog.files):
        for i in catalog.files[path].interfaces:
            every.setdefault(i.full_name, i)
    out = []
    for name, first in sorted(every.items()):
        owner = catalog.owners.get(name)
        if owner is not None:
            out.append(Row(name, owner.object_name, owner.interface.file, owner.interface.line,
                           catalog.definition_clients(name)))
        else:
            out.append(Row(name, None, first.file, first.line, {}))
    return out


def interfaces_report(settings: Settings, services: Sequence[Service], ref: str | None = None,
                      changed: Sequence[str] = ()) -> InterfacesReport:
    """Every interface, its owner and clients; with ``ref``, the changes since it of the ``changed`` files
    (plan/changes.py changed_files)."""
    catalog = load(settings.root, services_folder(settings), services, cache_file=cache_path(settings))
    result = since(catalog, settings.root, ref, services, changed) if ref is not None else None
    return InterfacesReport(rows(catalog), catalog.problems, result)
