"""One loaded project: settings + discovered services + their problems. The entry point of the library core."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tars_tasks.core.errors import InputError, Problem, UsageError, errors_only
from tars_tasks.core.graph import edges_of
from tars_tasks.core.services import Discovery, Service, discover, select
from tars_tasks.core.settings import Settings


@dataclass
class Project:
    """``problems`` are found on first use: `invoke list` reads the files but never applies the schema."""

    settings: Settings
    discovery: Discovery
    _problems: list[Problem] | None = field(default=None, repr=False)
    partial: bool = False  # load_selected read only some services' files (those the named ones' rules need)

    @classmethod
    def load(cls, settings: Settings, discovery: Discovery | None = None) -> Project:
        """The project as ``settings.env`` deploys it (overlays merged); ``discovery`` reuses files already read."""
        from tars_tasks.core.environments import apply_environment

        if discovery is None:
            discovery = discover(settings.services_path, settings.root, settings.max_values_bytes)
        return cls(settings, apply_environment(discovery, settings))

    @classmethod
    def load_selected(cls, settings: Settings, ids: Sequence[str]) -> Project:
        """The project for a task on the named services only (all of them when ``ids`` is empty): only their
        files and what their rules need are read and checked (core/index.py), and ``problems`` are theirs."""
        from tars_tasks.core.environments import apply_environment, env_files
        from tars_tasks.core.index import discover_selected
        from tars_tasks.validate.schema import validate_selected

        # an environment file adds values to every service: then dependsOn is read from the merged files only
        common = bool(settings.env) and env_files(settings).get(settings.env) is not None
        found = discover_selected(settings.services_path, settings.root, settings.max_values_bytes, ids,
                                  settings.registry, settings.env, settings.dist_path / "cache" / "values-index.json",
                                  trust_deps=not common) if ids else None
        if found is None:
            return cls.load(settings)
        discovery = apply_environment(found[0], settings)
        chosen = {s.id for s in found[1]}
        selected = [s for s in discovery.services if s.id in chosen]
        return cls(settings, discovery, validate_selected(discovery, selected, settings), partial=True)

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every discovered file (schema, rules, graph, collisions), sorted by place."""
        if self._problems is None:
            from tars_tasks.validate.schema import validate

            self._problems = validate(self.discovery, self.settings)
        return self._problems

    @property
    def services(self) -> list[Service]:
        return self.discovery.services

    def by_id(self) -> dict[str, Service]:
        return self.discovery.by_id()

    def edges(self) -> dict[str, list[str]]:
        return edges_of(self.services)

    def select(self, ids: Sequence[str] | None) -> list[Service]:
        """The named services, or all of them (sorted by id) when ``ids`` is empty. A named service whose
        values.yaml could not be read is its located read error (InputError), not "unknown service"."""
        if ids:
            try:
                return select(self.discovery, ids)
            except UsageError:
                unreadable = self._unreadable(ids)
                if unreadable:
                    raise InputError(unreadable) from None
                raise
        return sorted((s for s in self.services if s.app and s.server), key=lambda s: s.id)

    def _unreadable(self, ids: Sequence[str]) -> list[Problem]:
        """The read problems of files that could not be loaded although their text plainly names one of ``ids``
        (`app:` and `server:` lines; core/index.py)."""
        from tars_tasks.core.index import scan

        wanted = set(ids)
        out = []
        for problem in self.discovery.problems:
            entry = scan(self.settings.root / problem.file, self.settings.max_values_bytes, head=True)
            if entry.plain and f"{entry.app}.{entry.server}" in wanted:
                out.append(problem)
        return out

    def problems_for(self, services: Iterable[Service]) -> list[Problem]:
        """Problems in the given services' files, plus files that could not be identified at all."""
        files = {f for s in services for f in s.files}
        unidentified = {p.file for p in self.discovery.problems}
        unidentified |= {s.display for s in self.services if not (s.app and s.server)}
        return [p for p in self.problems if p.file in files or p.file in unidentified]

    def require_valid(self, services: Iterable[Service] | None = None) -> None:
        """Raise InputError with every error when any of ``services`` (default: all) is invalid."""
        problems = self.problems if services is None else self.problems_for(services)
        errors = errors_only(problems)
        if errors:
            raise InputError(errors)

    def unnamed(self) -> list[Problem]:
        """The values files that name no service (app or server missing, null or not a string): `list` says so."""
        out = []
        for s in self.discovery.services:
            for key, name in (("app", s.app), ("server", s.server)):
                if not name:
                    value = s.values.get(key)
                    why = "(a service is named App.Server by its app and server)"
                    out.append(s.problem([key], f"{'null' if value is None else repr(value)} {why}")
                               if key in s.values else s.problem([], f"missing key '{key}' {why}"))
                    break
        return out

    def listing(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """`invoke list`: id, folder (relative to the root), template and dependsOn of the named services."""
        root = self.settings.root
        return [{"id": s.id, "path": str(s.dir.relative_to(root)) if s.dir.is_relative_to(root) else str(s.dir),
                 "template": s.template, "dependsOn": s.depends_on}
                for s in self.select(ids)]

    def check(self, selected: Sequence[Service], render: bool = True, crd_check: bool = True) -> list[Problem]:
        """`invoke validate`: file problems of the selected services, then (when they are valid) their rendered
        charts — each must render, and with ``crd_check`` every manifest must conform to the CRD schemas."""
        problems = self.problems_for(selected)
        if render and selected and not any(not p.warning for p in problems):
            from tars_tasks.validate.render import render_problems  # helm and jsonschema only when rendering

            problems = problems + render_problems(self.settings, selected, crd_check)
        return problems + interface_problems(self, selected)


def interface_problems(project: Project, selected: Sequence[Service]) -> list[Problem]:
    """`invoke validate` of interfaces (tars_tasks/interfaces/checks.py): .tars files parse, one owner per
    interface, no stale copy; a call to a service missing from dependsOn is a warning at the calling line.
    A repository that tracks no .tars file under its services folder has no interfaces: nothing is checked
    (one `git ls-files`, not a scan of every source file)."""
    from tars_tasks.interfaces.sources import IDL_SUFFIX, services_folder, tracked_files

    root = project.settings.root
    if not any(f.endswith(IDL_SUFFIX) and (root / f).is_file()
               for f in tracked_files(root, services_folder(project.settings))):
        return []  # and the parser (lark) is never imported
    from tars_tasks.interfaces.checks import validate_interfaces

    if project.partial and project.discovery.files_by_id is not None:
        from tars_tasks.interfaces.selected import calls_only_problems

        quick = calls_only_problems(project.settings, selected, project.discovery.files_by_id)
        if quick is not None:  # none of them holds a .tars file: other services' are not read
            return quick
    # who owns an interface and whom a call reaches depend on every service's servants, not only on the
    # services the values rules of ``selected`` needed (load_selected): read them all (no schema applied)
    everyone = Project.load(project.settings).services if project.partial else project.services
    return validate_interfaces(project.settings, everyone, selected)


def check_all_environments(per_env: Sequence[Settings], ids: Sequence[str], render: bool = True,
                           crd_check: bool = True) -> tuple[list[Problem], int]:
    """`invoke validate --all-envs`: every environment's merged values checked (``per_env``: the settings of
    each; the files are read once), the problems of all of them without repeats, and how many services were
    checked per environment."""
    first = per_env[0]
    discovery = discover(first.services_path, first.root, first.max_values_bytes)
    found: set[Problem] = set()
    count = 0
    for settings in per_env:
        project = Project.load(settings, discovery)
        selected = project.select(ids)
        count = len(selected)
        found.update(project.check(selected, render=render, crd_check=crd_check))
    return sorted(found, key=lambda p: (p.file, p.line, p.col, p.path, p.message)), count
