"""What a change to interfaces since a git ref means: which owned definitions changed and how (breaking or
compatible, compare.changes), which services must be rebuilt because of it, and which breaking changes a
release would deploy to a server whose clients it does not rebuild.

An owner's file is a changed .tars file that holds owned definitions now, or held the interface a servant of
its service served at the ref (so removing an interface is seen). Definitions there are compared by full
name with their old version; a copy of someone else's definition in such a file is not the truth and is
left out (the stale-copy check covers it).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from tars_tasks.core.errors import InputError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.interfaces.cache import cache_path
from tars_tasks.interfaces.catalog import Catalog, load
from tars_tasks.interfaces.compare import Change, changes
from tars_tasks.interfaces.history import parsed_at
from tars_tasks.interfaces.model import Definition, IdlFile
from tars_tasks.interfaces.owners import service_owners
from tars_tasks.interfaces.sources import IDL_SUFFIX, services_folder, tracked_files


@dataclass(frozen=True)
class DefinitionChange:
    name: str  # Module.Name of the definition
    owner: str | None  # the service owning it (None: no service does)
    file: str  # the owner's file it changed in
    changes: tuple[Change, ...]

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.kind == "breaking"]

    def summary(self) -> str:
        first = self.breaking[0] if self.breaking else self.changes[0]
        more = f" (+{len(self.changes) - 1} more)" if len(self.changes) > 1 else ""
        return f"{first.message}{more}"


@dataclass
class Since:
    """The interface changes since a ref."""

    ref: str
    changed_files: list[str]  # .tars files changed since ref
    definitions: list[DefinitionChange]
    notes: list[str]

    @property
    def breaking(self) -> list[DefinitionChange]:
        return [d for d in self.definitions if d.breaking]


def _owned_at_ref(old: IdlFile, home: Service | None) -> bool:
    if home is None:
        return False
    owners, _ = service_owners(home, list(old.interfaces), {})
    return bool(owners)


def _compare_file(catalog: Catalog, path: str, old: IdlFile | None, new: IdlFile | None
                  ) -> list[DefinitionChange]:
    before: dict[str, Definition] = {d.full_name: d for d in old.definitions()} if old else {}
    after: dict[str, Definition] = {d.full_name: d for d in new.definitions()} if new else {}
    home = catalog.homes.of(path)
    out = []
    for name in sorted(before.keys() | after.keys()):
        entry = catalog.owned.get(name)
        if entry is not None and entry[1].file != path:
            continue  # a copy of what another file owns (or a definition that moved there)
        found = changes(before.get(name), after.get(name))
        if found:
            out.append(DefinitionChange(name, entry[0] if entry else home, path, tuple(found)))
    return out


def since(catalog: Catalog, root: Path, ref: str, services: Sequence[Service], changed: Sequence[str]) -> Since:
    """The changes of owned definitions between ``ref`` and the work tree. ``changed``: the files changed since
    ``ref`` (plan/changes.py changed_files, which checks the ref; only the .tars ones are looked at)."""
    files = sorted(f for f in changed if f.endswith(IDL_SUFFIX))
    old, failed = parsed_at(root, ref, files)
    notes = [f"{path} does not parse ({catalog.unparsed[path]}): not compared with {ref}"
             for path in files if path in catalog.unparsed]
    notes += [f"{path} at {ref} does not parse ({problem}): not compared" for path, problem in failed.items()
              if path not in catalog.unparsed]
    by_id = {s.id: s for s in services}
    out: list[DefinitionChange] = []
    for path in files:
        if path in failed or path in catalog.unparsed:
            continue  # what it defines (now or then) is unknown: nothing is claimed removed or added
        before, after = old.get(path), catalog.files.get(path)
        home = catalog.homes.of(path)
        if path in catalog.owned_files or (before is not None and _owned_at_ref(before, by_id.get(home or ""))):
            out.extend(_compare_file(catalog, path, before, after))
    return Since(ref, files, out, notes)


def rebuild_reasons(catalog: Catalog, result: Since) -> dict[str, list[str]]:
    """service -> why it must be rebuilt: it keeps a copy of, or includes, an owned definition that changed,
    or includes a .tars file (outside its folder) that changed."""
    reasons: dict[str, list[str]] = {}
    for d in result.definitions:
        for c in catalog.copies:
            if c.original.full_name == d.name and c.holder and c.holder != d.owner:
                reasons.setdefault(c.holder, []).append(
                    f"interface {d.name} changed since {result.ref} in {d.file} ({d.summary()}); "
                    f"it keeps a copy in {c.copy.file}")
    changed = set(result.changed_files)
    for sid, included in sorted(catalog.includes.items()):
        for path in sorted(changed & included.keys()):
            reasons.setdefault(sid, []).append(f"includes {path} ({included[path]}), changed since {result.ref}")
    return {sid: sorted(set(why), key=why.index) for sid, why in reasons.items()}


def unreleased_breaking(catalog: Catalog, result: Since | None, released: Collection[str]) -> list[str]:
    """Why a release of ``released`` (the services it deploys) breaks a client it does not rebuild against the
    new interface: a breaking change since the ref to what a released server owns, with a client (copy,
    include, caller) not in the release; or a copy (in any service) that the released owner's definition
    breaks, whether or not its holder is released (it would be rebuilt against the stale copy)."""
    out = []
    for d in result.breaking if result is not None else []:
        if d.owner not in released:
            continue
        clients = catalog.definition_clients(d.name) if d.name in catalog.owned else catalog.clients(d.owner or "")
        left = sorted(sid for sid in clients if sid not in released)
        if left:
            out.append(f"{d.owner}: breaking change to {d.name} since {result.ref if result else ''} "
                       f"({d.summary()} in {d.file}) but its clients {', '.join(left)} are not in this release")
    for c in catalog.copies:
        if c.owner in released and c.holder and c.holder != c.owner:
            broken = [x for x in changes(c.copy, c.original) if x.kind == "breaking"]
            if broken:
                out.append(f"{c.owner}: {c.original.full_name} in {c.original.file} breaks the copy {c.holder} "
                           f"builds with ({c.copy.file}: {broken[0].message})")
    return out


@dataclass
class PlanImpact:
    """What a plan needs of interfaces: the services to rebuild (with --since) and the release gate."""

    catalog: Catalog | None  # None: the monorepo has no .tars file
    result: Since | None  # None: no --since
    reasons: dict[str, list[str]]

    def unreleased(self, released: Collection[str]) -> list[str]:
        return unreleased_breaking(self.catalog, self.result, released) if self.catalog is not None else []

    def require_parsed(self, services: Collection[str]) -> None:
        """Refuse (InputError, located) when a .tars file of ``services`` or one they include does not parse:
        its changes cannot be judged, and no flag (not --allow-breaking) lets it through."""
        errors = self.catalog.parse_errors(services) if self.catalog is not None else []
        if errors:
            raise InputError(errors)


def plan_impact(settings: Settings, services: Sequence[Service], ref: str | None,
                changed: Callable[[], Sequence[str]] = lambda: ()) -> PlanImpact:
    """The interface side of a plan: with ``ref`` (--since), the clients a change to an owned definition
    marks (``changed``: the files changed since ``ref``, asked only when the monorepo has .tars files); in any
    case what `release` needs to refuse a breaking change."""
    folder = services_folder(settings)
    listing = tracked_files(settings.root, folder)
    if not any(f.endswith(IDL_SUFFIX) for f in listing):
        return PlanImpact(None, None, {})
    catalog = load(settings.root, folder, services, listing=listing, cache_file=cache_path(settings))
    if ref is None:
        return PlanImpact(catalog, None, {})
    result = since(catalog, settings.root, ref, services, changed())
    return PlanImpact(catalog, result, rebuild_reasons(catalog, result))
