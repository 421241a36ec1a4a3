"""Everything the monorepo says about its interfaces, in one value: the parsed .tars files, who owns each
interface, which services hold copies of or include what others own, and who calls whom.

What a service owns: the interfaces its servants serve (owners.py), and every other definition (struct, enum,
const, interface nobody else serves) in the files of those interfaces and in the files they include from the
service's own folder: the types of an interface live beside it. A definition of the same full name in any
other file is a copy, which must mean what the owner's says (compare.first_difference).

The .tars files parsed are those git tracks under the services folder, plus the files they include from
elsewhere in the repository (a shared idl folder): test data or examples elsewhere in the repository are
nobody's interfaces.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.interfaces.cache import ParseCache, sha1_of
from tars_tasks.interfaces.calls import Call, object_names, scan
from tars_tasks.interfaces.compare import first_difference
from tars_tasks.interfaces.model import Definition, IdlFile, Interface
from tars_tasks.interfaces.owners import Owner, service_owners, single_owners
from tars_tasks.interfaces.parser import parse_files
from tars_tasks.interfaces.references import undefined_types
from tars_tasks.interfaces.sources import IDL_SUFFIX, Homes, by_service, tracked_files


@dataclass(frozen=True)
class Copy:
    holder: str | None  # the service whose folder holds the copy (None: a file outside every service)
    copy: Definition
    original: Definition
    owner: str  # the service that owns the original

    def difference(self) -> str | None:
        return first_difference(self.copy, self.original)


@dataclass
class Catalog:
    files: dict[str, IdlFile]  # repo-relative path -> parsed file
    homes: Homes
    owners: dict[str, Owner]  # interface full name -> owner
    owned_files: dict[str, str]  # path -> the service owning what it defines
    owned: dict[str, tuple[str, Definition]]  # full name -> (owner, its definition)
    copies: list[Copy]
    includes: dict[str, dict[str, str]]  # service -> {a .tars file outside its folder it includes: the includer}
    scan_calls: Callable[[], list[Call]] = field(repr=False)  # the call scan, run when first asked
    problems: list[Problem] = field(default_factory=list)  # parse errors, two owners, unknown interfaces
    unparsed: dict[str, Problem] = field(default_factory=dict)  # path -> its first error: a file not parsed
    _calls: list[Call] | None = field(default=None, repr=False)

    @property
    def calls(self) -> list[Call]:
        """Every call found (calls.py); scanned on first use: a plan without breaking changes needs none."""
        if self._calls is None:
            self._calls = self.scan_calls()
        return self._calls

    def parse_errors(self, services: Collection[str]) -> list[Problem]:
        """The errors of the .tars files that did not parse in the folders of ``services`` or included by one
        of their files: what they define is unknown, so nothing may be compared or released with them."""
        wanted = set(services)
        included = {path for sid in wanted for path in self.includes.get(sid, {})}
        bad = {path for path in self.unparsed if path in included or self.homes.of(path) in wanted}
        return sorted(p for p in self.problems if p.file in bad and not p.warning)

    def clients(self, owner: str) -> dict[str, list[str]]:
        """service -> how it depends on what ``owner`` owns: "copy ...", "includes ...", "calls ..."."""
        out: dict[str, list[str]] = {}
        for c in self.copies:
            if c.owner == owner and c.holder and c.holder != owner:
                out.setdefault(c.holder, []).append(f"copy of {c.original.full_name} in {c.copy.file}")
        for sid, included in self.includes.items():
            for path, via in sorted(included.items()):
                if self.owned_files.get(path) == owner and sid != owner:
                    out.setdefault(sid, []).append(f"includes {path} ({via})")
        for call in self.calls:
            if call.callee == owner:
                out.setdefault(call.caller, []).append(f"calls {call.object_name} at {call.where()}")
        return out

    def definition_clients(self, name: str) -> dict[str, list[str]]:
        """The clients of one owned definition: services with a copy of it, including its file, or (for an
        interface) calling the servant that serves it."""
        owner, original = self.owned[name]
        out: dict[str, list[str]] = {}
        for c in self.copies:
            if c.original.full_name == name and c.holder and c.holder != owner:
                out.setdefault(c.holder, []).append(f"copy in {c.copy.file}:{c.copy.line}")
        for sid, included in self.includes.items():
            if original.file in included and sid != owner:
                out.setdefault(sid, []).append(f"includes {original.file} ({included[original.file]})")
        served = self.owners.get(name)
        for call in self.calls:
            if served is not None and call.callee == owner and call.servant == served.servant:
                out.setdefault(call.caller, []).append(f"calls {call.written} at {call.where()}")
        return out


def _parse_cached(root: Path, paths: Sequence[str], cache: ParseCache) -> tuple[list[IdlFile], list[Problem]]:
    """parse_files, but a file whose bytes the cache knows is taken from it."""
    done: list[IdlFile] = []
    problems: list[Problem] = []
    missed: dict[str, str | None] = {}
    top = str(root)
    for path in paths:
        sha1 = sha1_of(os.path.join(top, path))
        hit = cache.get(root, path, sha1) if sha1 is not None else None
        if hit is None:
            missed[path] = sha1
            continue
        if hit[0] is not None:
            done.append(hit[0])
        problems.extend(hit[1])
    parsed, found = parse_files(root, list(missed))
    by_path = {f.path: f for f in parsed}
    for path, sha1 in missed.items():
        if sha1 is not None:
            cache.put(path, sha1, by_path.get(path), [p for p in found if p.file == path])
    return done + parsed, problems + found


def _inside(root: Path, paths: Sequence[str]) -> tuple[list[str], list[Problem]]:
    """The paths that resolve inside ``root``; a tracked symlink out of it is a problem, never read (its
    text would reach a parse error's message)."""
    top = os.path.realpath(root)
    inside, problems = [], []
    for path in paths:
        real = os.path.realpath(os.path.join(top, path))
        if real == top or real.startswith(top.rstrip(os.sep) + os.sep):
            inside.append(path)
        else:
            problems.append(Problem(path, 1, 1, "", "resolves outside the repository (a symlink): not read"))
    return inside, problems


def _parse_with_includes(root: Path, paths: Sequence[str], cache: ParseCache
                         ) -> tuple[dict[str, IdlFile], list[Problem]]:
    """Parse ``paths`` and every file they include (transitively) that is in the repository."""
    files: dict[str, IdlFile] = {}
    todo, problems = _inside(root, paths)
    tried: set[str] = set(todo)
    while todo:
        parsed, found = _parse_cached(root, todo, cache)
        problems.extend(found)
        files.update((f.path, f) for f in parsed)
        todo = sorted({i.resolved for f in parsed for i in f.includes if i.resolved and i.resolved not in tried})
        tried.update(todo)
    cache.keep_only(tried)
    cache.save()
    return files, problems


def _included(files: dict[str, IdlFile], start: str) -> set[str]:
    """Every file ``start`` includes, directly or not (cycles allowed)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        f = files.get(todo.pop())
        for inc in f.includes if f is not None else ():
            if inc.resolved and inc.resolved not in seen:
                seen.add(inc.resolved)
                todo.append(inc.resolved)
    return seen


def _ownership(services: Sequence[Service], files: dict[str, IdlFile], homes: Homes
               ) -> tuple[dict[str, Owner], list[Problem]]:
    own: dict[str, list[Interface]] = {}
    shared: dict[str, list[Interface]] = {}
    for path, f in files.items():
        sid = homes.of(path)
        for i in f.interfaces:
            (own.setdefault(sid, []) if sid else shared.setdefault(i.full_name, [])).append(i)
    found: list[Owner] = []
    problems: list[Problem] = []
    for s in services:
        if s.app and s.server:
            owners, why = service_owners(s, own.get(s.id, []), shared)
            found.extend(owners)
            problems.extend(why)
    chosen, why = single_owners(found, {s.id: s for s in services})
    return chosen, problems + why


def _owned(owners: dict[str, Owner], files: dict[str, IdlFile], homes: Homes
           ) -> tuple[dict[str, str], dict[str, tuple[str, Definition]]]:
    owned_files: dict[str, str] = {}
    for owner in sorted(owners.values(), key=lambda o: (o.service, o.index)):
        home = owner.interface.file
        for path in [home, *sorted(_included(files, home))]:
            if path == home or homes.of(path) == owner.service:
                owned_files.setdefault(path, owner.service)
    served_by = {name: o.service for name, o in owners.items()}
    owned: dict[str, tuple[str, Definition]] = {}
    for path, sid in sorted(owned_files.items()):
        for d in files[path].definitions():
            if served_by.get(d.full_name, sid) == sid:  # an interface served by another is theirs
                owned.setdefault(d.full_name, (sid, d))
    for name, o in owners.items():  # the served definition itself, whatever else defined the name first
        owned[name] = (o.service, o.interface)
    return owned_files, owned


def _copies(files: dict[str, IdlFile], owned: dict[str, tuple[str, Definition]], homes: Homes) -> list[Copy]:
    out = []
    for path in sorted(files):
        for d in files[path].definitions():
            entry = owned.get(d.full_name)
            if entry is not None and entry[1].file != path:
                out.append(Copy(homes.of(path), d, entry[1], entry[0]))
    return out


def _includes(files: dict[str, IdlFile], homes: Homes) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for path in sorted(files):
        sid = homes.of(path)
        if sid is None:
            continue
        for inc in sorted(_included(files, path)):
            if homes.of(inc) != sid:
                out.setdefault(sid, {}).setdefault(inc, path)
    return out


def load(root: Path, services_dir: str, services: Sequence[Service], callers: Collection[str] | None = None,
         listing: Iterable[str] | None = None, cache_file: Path | None = None) -> Catalog:
    """The catalog of the monorepo at ``root`` (``services_dir`` repo-relative). ``callers``: the services
    whose source is scanned for calls (None: all of them). ``listing``: the tracked files (default: git).
    ``cache_file``: parsed files kept between runs (cache.py; None: parse every file)."""
    homes = Homes(root, services)
    tracked = list(listing) if listing is not None else tracked_files(root, services_dir)
    files, problems = _parse_with_includes(root, [f for f in tracked if f.endswith(IDL_SUFFIX)],
                                           ParseCache(cache_file, root))
    unparsed = {p.file: p for p in reversed(problems) if not p.warning and p.file not in files}
    problems += undefined_types(files)
    owners, why = _ownership(services, files, homes)
    owned_files, owned = _owned(owners, files, homes)
    sources = by_service(homes, tracked)
    if callers is not None:
        sources = {sid: fs for sid, fs in sources.items() if sid in callers}
    names = object_names(services)
    return Catalog(files, homes, owners, owned_files, owned, _copies(files, owned, homes), _includes(files, homes),
                   lambda: scan(root, sources, names), problems + why, unparsed)
