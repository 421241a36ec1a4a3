"""Discovery of a few named services without parsing every values.yaml.

`template --service X` and `validate --service X` need X, plus what X's rules look at in other files:
the services X depends on (that they exist, and that no cycle runs through X) and the services that could
collide with X (same id ignoring case, same release name, same image repository). Parsing every values.yaml
to find those costs about 1 ms per service; reading its bytes costs about 15 µs. So every file is read once
and its top-level `app:` and `server:` lines and its `image:` line are taken from the text: an index of ids.
Only X, the services it depends on (transitively) and the files whose text says they may collide with X (or,
when X has an appConfig, that they are of X's app) are parsed. A file the text cannot identify plainly (flow
style, quoted names, more than one `image:`, a symlink, an overlay of the chosen environment) is parsed too,
so nothing is decided on a guess: the index only chooses which files to parse, and everything reported comes
from parsed files.

When a named id is not in the index, or two files name the same id, the caller falls back to reading
everything (`discover`), which gives the usual errors.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tars_tasks.core.errors import Problem
from tars_tasks.core.graph import find_cycles
from tars_tasks.core.overlays import overlay_env
from tars_tasks.core.services import Discovery, Service, display_path, read_values
from tars_tasks.core.yamlfile import YamlFileError

if TYPE_CHECKING:  # pragma: no cover
    from tars_tasks.core.values_index import ValuesIndex

_NAME = rb"[ \t]*([A-Za-z][A-Za-z0-9]*)[ \t]*(?:#[^\n]*)?$"
_APP = re.compile(rb"^app:" + _NAME, re.MULTILINE)
_SERVER = re.compile(rb"^server:" + _NAME, re.MULTILINE)
_IMAGE = re.compile(rb"^[ \t]+image:[ \t]*([a-z0-9][-./:a-z0-9]*)[ \t]*(?:#[^\n]*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Entry:
    """What the text of one values.yaml plainly says: its id and repo.image, or None when it does not."""

    file: Path
    app: str | None
    server: str | None
    image: str = ""  # repo.image as written ("" when the file has no `image:`)

    @property
    def plain(self) -> bool:
        return self.app is not None and self.server is not None


def scan(path: Path, max_bytes: int, head: bool = False) -> Entry:
    """The id and image a values.yaml's text states plainly (not followed through symlinks; FIFOs not opened).
    ``head``: a file larger than ``max_bytes`` is judged by its first ``max_bytes`` (to name the service an
    oversized file belongs to in its error; never to use its values)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)  # a symlink fails here: parsed instead
    except OSError:
        return Entry(path, None, None)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes and not head:
            return Entry(path, None, None)
        data = os.read(fd, min(info.st_size, max_bytes) + 1)
    except OSError:
        return Entry(path, None, None)
    finally:
        os.close(fd)
    apps, servers, images = _APP.findall(data), _SERVER.findall(data), _IMAGE.findall(data)
    if len(apps) != 1 or len(servers) != 1 or data.count(b"image:") != len(images) or len(images) > 1:
        return Entry(path, None, None)
    return Entry(path, apps[0].decode(), servers[0].decode(), images[0].decode() if images else "")


def _keys(app: str, server: str, image: str, registry: str) -> set[str]:
    """What must be unique across services (validate/collisions.py): the id ignoring case, the release name,
    the image repository (a pinned image is never pushed: its own key)."""
    name, tag = image.rsplit(":", 1) if ":" in image.rsplit("/", 1)[-1] else (image, "")
    repository = f"pinned {app}.{server}" if tag else (name or f"{registry}/{app.lower()}/{server.lower()}")
    return {f"id {app.lower()}.{server.lower()}", f"name {app.lower()}-{server.lower()}",
            f"image {repository.lower()}"}


class _Parser:
    """Parses values files (paths relative to the services folder) at most once each, remembering what failed
    and telling the index each dependsOn."""

    def __init__(self, index: ValuesIndex, root: Path, max_bytes: int, own_overlay: set[str], trust_deps: bool):
        self.index, self.root, self.max_bytes = index, root, max_bytes
        self.own_overlay, self.trust_deps = own_overlay, trust_deps
        self.parsed: dict[str, Service] = {}
        self.failed: set[str] = set()
        self.problems: list[Problem] = []

    def parse(self, rel: str) -> Service | None:
        if rel not in self.parsed and rel not in self.failed:
            file = self.index.services_path / rel
            display = display_path(file, self.root)
            try:
                values, text = read_values(file, display, self.root, self.max_bytes)
            except YamlFileError as exc:
                self.problems.append(exc.problem)
                self.failed.add(rel)
                return None
            self.parsed[rel] = Service.of(file, display, values, text)
            if _folder(rel) not in self.own_overlay:
                self.index.learn_deps(rel, self.parsed[rel].depends_on)
        return self.parsed.get(rel)

    def deps_of(self, rel: str) -> list[str] | None:
        """dependsOn of ``rel``: from the index when it knows them unchanged (and may be trusted), else parsed."""
        known = self.index.deps(rel) if self.trust_deps and _folder(rel) not in self.own_overlay else None
        if known is not None:
            return known
        service = self.parse(rel)
        return service.depends_on if service is not None else None


def _folder(rel: str) -> str:
    return rel.rpartition("/")[0]


def _names(key: str, registry: str) -> tuple[str, str]:
    """The lowercased (app, server) whose own keys include ``key`` (one of `_keys`), ("", "") when none."""
    kind, _, value = key.partition(" ")
    if kind == "id":
        app, _, server = value.partition(".")
    elif kind == "name":
        app, _, server = value.partition("-")
    else:
        prefix = registry.lower() + "/"
        if not value.startswith(prefix) or value.count("/") != prefix.count("/") + 1:
            return "", ""
        app, _, server = value[len(prefix):].partition("/")
    return (app, server) if app.isalnum() and server.isalnum() else ("", "")  # plain names are letters and digits


def discover_selected(services_path: Path, root: Path, max_bytes: int, ids: Sequence[str], registry: str,
                      env: str = "", cache: Path | None = None,
                      trust_deps: bool = False) -> tuple[Discovery, list[Service]] | None:
    """(the parsed services and their read problems, the named ones) — or None when the index cannot say
    which files hold the named ids, so that the caller reads everything.

    ``cache``: where the index of values files is kept between runs (core/values_index.py): unchanged
    folders are not listed, unchanged files not read. ``trust_deps``: the dependsOn of an unchanged file
    parsed in an earlier run is taken from there, not parsed again (only when no environment file adds
    values to every service); the Discovery's ``graph`` then carries them for the dependency checks."""
    from tars_tasks.core.values_index import ValuesIndex  # it reads values with scan() from here

    index = ValuesIndex(services_path, cache, max_bytes, within=root)
    files, overlays = index.refresh()
    own_overlay = {_folder(rel) for rel in overlays if env and overlay_env(Path(rel)) == env}
    reader = _Parser(index, root, max_bytes, own_overlay, trust_deps)
    by_id: dict[str, list[str]] = {}
    plain: list[tuple[str, str, str, str]] = []  # (file, app, server, image) as the text states them
    indexed = [rel for rel in files if _folder(rel) not in own_overlay] if own_overlay else files
    stated_of = dict(zip(indexed, index.entries(indexed)))
    for rel in files:
        stated = stated_of.get(rel)
        if stated is not None:
            plain.append((rel, *stated))
            sid = f"{stated[0]}.{stated[1]}"
        else:
            service = reader.parse(rel)
            sid = service.id if service else "None.None"
        by_id.setdefault(sid, []).append(rel)
    if any(len(by_id.get(sid, ())) != 1 for sid in ids):
        return None
    unique = list(dict.fromkeys(ids))
    chosen = [s for s in (reader.parse(by_id[sid][0]) for sid in unique) if s is not None]
    if [s.id for s in chosen] != unique:
        return None
    graph = _closure(chosen, by_id, reader.deps_of)
    for sid in {sid for cycle in find_cycles(graph) for sid in cycle}:  # located in a member's file: parse them
        reader.parse(by_id[sid][0])
    wanted = set().union(*(_keys(s.app, s.server, _repo_image(s), registry) for s in chosen))
    # a file without `image:` collides only by its names (its repository is made of them): one lookup each
    by_names = {(a, b) for a, b in (_names(key, registry) for key in wanted) if a}
    # an appConfig is shared by the app's services: the others of the app are read to check who owns its names
    shared = {s.app for s in chosen if s.values.get("appConfig")}
    for rel, app, server, image in plain:
        if (app.lower(), server.lower()) in by_names or (image and _keys(app, server, image, registry) & wanted) \
                or app in shared:
            reader.parse(rel)
    services = list(reader.parsed.values())
    if len({s.id for s in services if s.app and s.server}) != len([s for s in services if s.app and s.server]):
        return None  # the same id in two files: discovery says which is the duplicate
    index.save()
    dirs = {s.dir for s in services}
    found_overlays = [p for p in (services_path / rel for rel in overlays) if p.parent in dirs]
    known: dict[str, list[str]] | None = None
    if trust_deps:
        known = dict.fromkeys(by_id, [])  # every id a file states (and parses, where read) ...
        known.update(graph)  # ... with the dependsOn of those the parsed services reach
        for sid in {sid for sid, rels in by_id.items() for rel in rels if rel in reader.failed} if reader.failed \
                else ():
            del known[sid]
    files_by_id = {sid: rels[0] for sid, rels in by_id.items() if len(rels) == 1 and rels[0] not in reader.failed}
    return Discovery(services, reader.problems, found_overlays, graph=known, files_by_id=files_by_id), chosen


def _repo_image(service: Service) -> str:
    repo = service.values.get("repo")
    image = repo.get("image") if isinstance(repo, dict) else None
    return image if isinstance(image, str) else ""


def _closure(chosen: Iterable[Service], by_id: dict[str, list[str]],
             deps_of: Callable[[str], list[str] | None]) -> dict[str, list[str]]:
    """id -> dependsOn of the chosen services and of everything they depend on, transitively (for unknown
    ids and cycles); an id written in two files has every file's dependsOn read (the duplicate is refused)."""
    graph = {s.id: s.depends_on for s in chosen}
    todo = list(graph)
    while todo:
        for dep in graph[todo.pop()]:
            if dep in graph or dep not in by_id:
                continue
            found = [d for d in map(deps_of, by_id[dep]) if d is not None]
            if found:
                graph[dep] = found[0]
                todo.append(dep)
    return graph
