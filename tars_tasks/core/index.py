"""Discovery of a few named services without parsing every values.yaml.

`template --service X` and `validate --service X` need X, plus what X's rules look at in other files:
the services X depends on (that they exist, and that no cycle runs through X) and the services that could
collide with X (same id ignoring case, same release name, same image repository). Parsing every values.yaml
to find those costs about 1 ms per service; reading its bytes costs about 15 µs. So every file is read once
and its top-level `app:` and `server:` lines and its `image:` line are taken from the text: an index of ids.
Only X, the services it depends on (transitively) and the files whose text says they may collide with X are
parsed. A file the text cannot identify plainly (flow style, quoted names, more than one `image:`, a
symlink, an overlay of the chosen environment) is parsed too, so nothing is decided on a guess: the
index only chooses which files to parse, and everything reported comes from parsed files.

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

from tars_tasks.core.errors import Problem
from tars_tasks.core.overlays import overlay_env
from tars_tasks.core.services import Discovery, Service, display_path, find_values_files, read_values
from tars_tasks.core.yamlfile import YamlFileError

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


def discover_selected(services_path: Path, root: Path, max_bytes: int, ids: Sequence[str], registry: str,
                      env: str = "") -> tuple[Discovery, list[Service]] | None:
    """(the parsed services and their read problems, the named ones) — or None when the index cannot say
    which files hold the named ids, so that the caller reads everything."""
    overlays: list[Path] = []
    files = find_values_files(services_path, overlays)
    own_overlay = {p.parent for p in overlays if env and overlay_env(p) == env}
    entries = [scan(f, max_bytes) if f.parent not in own_overlay else Entry(f, None, None) for f in files]
    parsed: dict[Path, Service] = {}
    problems: list[Problem] = []

    def parse(entry: Entry) -> Service | None:
        if entry.file not in parsed:
            display = display_path(entry.file, root)
            try:
                values, text = read_values(entry.file, display, root, max_bytes)
            except YamlFileError as exc:
                problems.append(exc.problem)
                return None
            parsed[entry.file] = Service.of(entry.file, display, values, text)
        return parsed[entry.file]

    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        service = parse(entry) if not entry.plain else None
        sid = service.id if service else f"{entry.app}.{entry.server}"
        by_id.setdefault(sid, []).append(entry)
    if any(len(by_id.get(sid, ())) != 1 for sid in ids):
        return None
    unique = list(dict.fromkeys(ids))
    chosen = [s for s in (parse(by_id[sid][0]) for sid in unique) if s is not None]
    if [s.id for s in chosen] != unique:
        return None
    _closure(chosen, by_id, parse)
    wanted = set().union(*(_keys(s.app, s.server, _repo_image(s), registry) for s in chosen))
    for entry in entries:
        if entry.plain and _keys(entry.app or "", entry.server or "", entry.image, registry) & wanted:
            parse(entry)
    services = list(parsed.values())
    if len({s.id for s in services if s.app and s.server}) != len([s for s in services if s.app and s.server]):
        return None  # the same id in two files: discovery says which is the duplicate
    dirs = {s.dir for s in services}
    return Discovery(services, problems, [p for p in overlays if p.parent in dirs]), chosen


def _repo_image(service: Service) -> str:
    repo = service.values.get("repo")
    image = repo.get("image") if isinstance(repo, dict) else None
    return image if isinstance(image, str) else ""


def _closure(chosen: Iterable[Service], by_id: dict[str, list[Entry]],
             parse: Callable[[Entry], Service | None]) -> None:
    """Parse every service the chosen ones depend on, transitively (for unknown ids and cycles)."""
    todo = list(chosen)
    seen = {s.id for s in todo}
    while todo:
        for dep in todo.pop().depends_on:
            if dep in seen or dep not in by_id:
                continue
            seen.add(dep)
            for entry in by_id[dep]:
                service = parse(entry)
                if service is not None:
                    todo.append(service)
