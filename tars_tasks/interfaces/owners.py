"""Who owns an interface: the service that serves it.

A servant `XObj` serves the interface `X` defined in a .tars file in its service's own folder (the TARS
convention: HelloObj serves Hello), or `servants[i].interface: Module.Name` says which it serves (found in
the service's folder first, else in a .tars file outside every service folder, a shared one). A servant that
is not TARS (`isTars: false`, or a `subtype: normal` service) serves no interface by convention. Two services
serving one interface is an error naming both: a client could not tell whose definition is the truth.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.interfaces.model import Interface

SERVANT_SUFFIX = "Obj"


@dataclass(frozen=True)
class Owner:
    service: str  # App.Server
    servant: str  # its servant that serves the interface
    index: int  # position in servants[]
    interface: Interface
    explicit: bool  # servants[i].interface said so (else: the XObj convention)

    @property
    def object_name(self) -> str:
        return f"{self.service}.{self.servant}"


def servants(service: Service) -> Iterable[tuple[int, dict]]:
    seq = service.values.get("servants")
    if isinstance(seq, list):
        for i, item in enumerate(seq):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                yield i, item


def _explicit(service: Service, index: int, wanted: str, own: Sequence[Interface],
              shared: Mapping[str, list[Interface]]) -> tuple[Interface | None, Problem | None]:
    mine = [i for i in own if i.full_name == wanted]
    found = mine or shared.get(wanted, [])
    if len(found) == 1 or (found and len({i.file for i in found}) == 1):
        return found[0], None
    where = ["servants", index, "interface"]
    if not found:
        return None, service.problem(where, f"interface {wanted} is not defined in any .tars file git tracks in "
                                            "this service's folder or outside every service folder")
    files = ", ".join(sorted({i.file for i in found}))
    return None, service.problem(where, f"interface {wanted} is defined in several files ({files}): keep one")


def _conventional(service: Service, index: int, name: str, own: Sequence[Interface]
                  ) -> tuple[Interface | None, Problem | None]:
    wanted = name[: -len(SERVANT_SUFFIX)]
    found = {i.full_name: i for i in own if i.name == wanted}
    if len(found) <= 1:
        return next(iter(found.values()), None), None
    return None, service.problem(["servants", index, "name"],
                                 f"servant {name} could serve {' or '.join(sorted(found))} (both in this "
                                 "service's folder): say which with `interface: Module.Name`", warning=True)


def service_owners(service: Service, own: Sequence[Interface], shared: Mapping[str, list[Interface]]
                   ) -> tuple[list[Owner], list[Problem]]:
    """The interfaces one service serves. ``own``: the interfaces in its folder's .tars files; ``shared``:
    full name -> the interfaces in .tars files outside every service folder."""
    normal = service.values.get("subtype") == "normal"
    owners: list[Owner] = []
    problems: list[Problem] = []
    for i, servant in servants(service):
        name, wanted = servant["name"], servant.get("interface")
        if isinstance(wanted, str) and wanted:
            found, problem = _explicit(service, i, wanted, own, shared)
        elif normal or servant.get("isTars") is False or not name.endswith(SERVANT_SUFFIX):
            continue
        else:
            found, problem = _conventional(service, i, name, own)
        if problem is not None:
            problems.append(problem)
        if found is not None:
            owners.append(Owner(service.id, name, i, found, isinstance(wanted, str) and bool(wanted)))
    return owners, problems


def single_owners(owners: Iterable[Owner], services: Mapping[str, Service]) -> tuple[dict[str, Owner], list[Problem]]:
    """interface full name -> its owner. A second service serving the same interface is an error located at
    its servant, naming the first (by service id); the first stays the owner so the rest can be checked."""
    chosen: dict[str, Owner] = {}
    problems: list[Problem] = []
    for owner in sorted(owners, key=lambda o: (o.service, o.index)):
        name = owner.interface.full_name
        first = chosen.get(name)
        if first is None:
            chosen[name] = owner
        elif first.service != owner.service:
            key = "interface" if owner.explicit else "name"
            problems.append(services[owner.service].problem(
                ["servants", owner.index, key],
                f"interface {name} has two owners: {first.object_name} ({first.interface.file}) and "
                f"{owner.object_name} ({owner.interface.file}); one service serves an interface"))
    return chosen, problems
