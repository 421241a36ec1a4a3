"""Service discovery: every folder under the services dir holding a values.yaml is a service.

A values.yaml is read only when it is a regular file that resolves, after symlinks, inside the repository,
and at most `max_bytes` long (`tars.max_values_bytes`, default 8 MiB: a TConfig's content alone may reach
about 1.5 MB). Anything else (`values.yaml -> /etc/shadow`, `-> /dev/zero`, a FIFO) is a located problem
that shows nothing of what the file points to.
"""
from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tars_tasks.core.errors import Problem, UsageError
from tars_tasks.core.overlays import Layer, Origin, overlay_env
from tars_tasks.core.yamlfile import Locator, YamlFileError, format_path, load_mapping

VALUES_FILE = "values.yaml"
MAX_VALUES_BYTES = 8 << 20
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", "dist", "build", "target"}


@dataclass
class Service:
    """One service: its values as written, where it lives, and how to locate errors in it."""

    app: str
    server: str
    dir: Path  # the service folder
    display: str  # values.yaml path as shown in messages (relative to the project root)
    values: dict
    text: str = field(repr=False)
    _locator: Locator | None = field(default=None, repr=False, compare=False)
    # with an environment's overlays: every file that supplied values (0: values.yaml), and which supplied what
    layers: list[Layer] = field(default_factory=list, repr=False, compare=False)
    origin: Origin | None = field(default=None, repr=False, compare=False)
    # at plan time (core/secrets.py): the values of the secrets it references, and their keyed hash
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    secret_digest: str = field(default="", repr=False, compare=False)
    # each secret's own keyed hash (same key and HMAC as secret_digest): TConfig names digest those they use
    secret_hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, file: Path, display: str, values: dict, text: str) -> Service:
        """The service of a values.yaml read as ``values`` (app and server "" when not strings)."""
        app, server = values.get("app"), values.get("server")
        return cls(app=app if isinstance(app, str) else "", server=server if isinstance(server, str) else "",
                   dir=file.parent, display=display, values=values, text=text)

    @property
    def id(self) -> str:
        return f"{self.app}.{self.server}"

    @property
    def name(self) -> str:
        """The TServer / helm release name."""
        return f"{self.app.lower()}-{self.server.lower()}"

    @property
    def depends_on(self) -> list[str]:
        deps = self.values.get("dependsOn") or []
        return [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []

    @property
    def template(self) -> str:
        value = self.values.get("template")
        return value if isinstance(value, str) else ""

    @property
    def locator(self) -> Locator:
        if self._locator is None:
            self._locator = Locator(self.text)
        return self._locator

    @property
    def files(self) -> list[str]:
        """Every file its values come from, as shown in messages: values.yaml, then the overlays."""
        return [self.display] + [layer.display for layer in self.layers[1:]]

    def written(self, path: list) -> str | None:
        """The scalar at ``path`` as written in the file (values.yaml or an overlay) that supplied it."""
        if self.origin is not None:
            layer, inner = self.origin.locate(path)
            if layer:
                return self.layers[layer].locator.scalar(inner)
        return self.locator.scalar(path)

    def problem(self, path: list, message: str, key: bool = False, warning: bool = False) -> Problem:
        """A problem at ``path`` of the values, located in the file (values.yaml or an overlay) that wrote it."""
        if self.origin is not None:
            layer, inner = self.origin.locate(path)
            if layer:
                line, col = self.layers[layer].find(inner, key=key)
                return Problem(self.layers[layer].display, line, col, format_path(path), message, warning)
        line, col = self.locator.find(path, key=key)
        return Problem(self.display, line, col, format_path(path), message, warning)


@dataclass
class Discovery:
    services: list[Service]
    problems: list[Problem]  # files that could not be read, parsed, or identified
    overlays: list[Path] = field(default_factory=list)  # every values.<env>.yaml found under the services dir
    # read for a few services (core/index.py): every id in the repository -> its dependsOn where known (those
    # the parsed services reach), for the dependency checks of services whose files were not parsed
    graph: dict[str, list[str]] | None = None
    files_by_id: dict[str, str] | None = None  # and there: every id -> its values.yaml (in the services folder)

    def by_id(self) -> dict[str, Service]:
        return {s.id: s for s in self.services}


def find_values_files(services_path: Path, overlays: list[Path] | None = None) -> list[Path]:
    """Every values.yaml under ``services_path``; with ``overlays``, every values.<env>.yaml is added to it."""
    found = []
    for dirpath, dirnames, filenames in os.walk(services_path):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        if VALUES_FILE in filenames:
            found.append(Path(dirpath) / VALUES_FILE)
        if overlays is not None:
            overlays.extend(sorted(Path(dirpath) / f for f in filenames if overlay_env(Path(f))))
    return sorted(found)


def display_path(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class RealPaths:
    """os.path.realpath of many paths in few folders (one run's discovery): each folder is resolved once, then
    a path is its folder's real path and its name unless the name itself is a symlink (one lstat)."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: str | Path) -> str:
        path = os.fspath(path)
        if ".." in path:  # resolved in order (a symlink before `..` moves it): as realpath does
            return os.path.realpath(path)
        path = os.path.abspath(path)
        parent, name = os.path.split(path)
        if not name or os.path.islink(path):
            return os.path.realpath(path)
        return os.path.join(self._folder(parent), name)

    def _folder(self, folder: str) -> str:
        """The real path of ``folder`` (absolute, no `..`): its parent's and its name, unless it is a link."""
        real = self._folders.get(folder)
        if real is None:
            parent, name = os.path.split(folder)
            if not name or parent == folder or os.path.islink(folder):
                real = os.path.realpath(folder)
            else:
                real = os.path.join(self._folder(parent), name)
            self._folders[folder] = real
        return real


def _inside(path: Path, root: Path, realpath: Callable[[Path], str] = os.path.realpath) -> bool:
    real, base = realpath(path), realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def read_values(path: Path, display: str, root: Path, max_bytes: int = MAX_VALUES_BYTES,
                realpath: Callable[[Path], str] = os.path.realpath) -> tuple[dict, str]:
    """(values, text) of one values.yaml: a regular file inside ``root``, at most ``max_bytes`` long.
    ``realpath``: a RealPaths shared by the files of one discovery."""
    def refuse(message: str) -> YamlFileError:
        return YamlFileError(Problem(display, 1, 1, "", message))

    if not _inside(path, root, realpath):
        raise refuse("resolves outside the repository (a symlink): only files inside the repository are read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO does not block the open
    except OSError as exc:
        raise refuse(f"cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise refuse("not a regular file (a device, FIFO or socket): expected a YAML file")
        if info.st_size > max_bytes:
            raise refuse(f"{info.st_size} bytes: larger than the limit of {max_bytes} (tars.max_values_bytes)")
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise refuse(f"cannot read: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise refuse(f"larger than the limit of {max_bytes} bytes (tars.max_values_bytes)")
    return load_mapping(data, display)


def discover(services_path: Path, root: Path | None = None, max_bytes: int = MAX_VALUES_BYTES) -> Discovery:
    """Read every values.yaml under ``services_path`` (see `read_values`). Unreadable files become
    problems, not exceptions."""
    if not services_path.is_dir():
        raise UsageError(f"services folder not found: {services_path}")
    root = root or services_path.parent
    services: list[Service] = []
    problems: list[Problem] = []
    seen: dict[str, Service] = {}
    overlays: list[Path] = []
    realpath = RealPaths()
    for file in find_values_files(services_path, overlays):
        display = display_path(file, root)
        try:
            values, text = read_values(file, display, root, max_bytes, realpath)
        except YamlFileError as exc:
            problems.append(exc.problem)
            continue
        service = Service.of(file, display, values, text)
        services.append(service)
        if service.app and service.server:
            other = seen.get(service.id)
            if other is not None:
                message = f"duplicate service id {service.id}: also defined in {other.display}"
                problems.append(service.problem(["app"], message))
            else:
                seen[service.id] = service
    return Discovery(services, problems, overlays)


def select(discovery: Discovery, ids: Iterable[str]) -> list[Service]:
    """The services named by ``ids`` (App.Server, case-sensitive), in the order given."""
    by_id = discovery.by_id()
    chosen, unknown, seen = [], [], set()
    for sid in ids:  # a set of ids seen, never list membership: 10k names stay linear
        if sid in by_id:
            if sid not in seen:
                seen.add(sid)
                chosen.append(by_id[sid])
        else:
            unknown.append(sid)
    if unknown:
        hint = ""
        lowered = {k.lower(): k for k in by_id}
        for u in unknown:
            if u.lower() in lowered:
                hint = f"; did you mean {lowered[u.lower()]}?"
                break
        raise UsageError(f"unknown service {', '.join(unknown)}{hint} (see `invoke list`)")
    return chosen

