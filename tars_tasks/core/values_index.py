"""Where every values.yaml is and what its text plainly says, kept between runs (`<dist>/cache/values-index.json`).

`template --service X` in a repository of 10,000 services must not walk all of `services/` and read all
10,000 files to find X (core/index.py says why it reads them at all: X's rules look at other files). This
index remembers, for each folder under the services folder, its modification time and what it held (the
subfolders walked, whether it has a values.yaml, its overlays), and for each values.yaml its stat identity
(modification and change time, size, inode), the id and image its text plainly states (`index.scan`) and,
once it was parsed, its dependsOn. A run stats every folder and every values.yaml (two system calls each,
no directory listing, no read) and lists or reads again only what changed: a folder's mtime changes when an
entry is added, removed or renamed in it; a file's stat changes when it is written.

Like git's index, it never trusts a stat taken in the same instant the file could still change ("racily
clean": modified within ``RACY_NS`` of when it was read): such a folder is listed again, such a file read
again, next time. The cache is JSON of plain values, read only when its body hashes to the digest its
header carries (a cut or corrupted file is ignored), and a row is used only when it has the expected shape
and its stat identity matches. Symlinked values files are never remembered (their target may change unseen).
A cache committed into a checkout (dist/ is git-ignored, but `git add -f` exists) is never believed: inode
and change time of every file are this machine's own, so none of its rows matches and every file is read.
"""
from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import stat
import time
from pathlib import Path

from tars_tasks.core.fsio import SymlinkedFolder, refuse_symlinked, write_text_atomic
from tars_tasks.core.index import scan
from tars_tasks.core.overlays import overlay_env
from tars_tasks.core.services import SKIP_DIRS, VALUES_FILE

CACHE_FORMAT = "tars-tasks/values-index@3"
RACY_NS = 2_000_000_000  # a stat this close to the moment it was taken may still change unseen (coarse clocks)

# Rows are kept as the plain lists JSON gives (10,000 objects built per run would cost more than the stats):
# a folder: [mtime_ns, racy, subfolders walked into (sorted), has a values.yaml, values.<env>.yaml names], or
# just its mtime_ns for the common case (a service folder: not racy, a values.yaml, no subfolder, no overlay)
# a values.yaml: [mtime_ns, ctime_ns, size, inode, racy, app, server, image, dependsOn or None]
_F_MTIME, _F_RACY, _F_SUBDIRS, _F_VALUES, _F_OVERLAYS = range(5)
_V_RACY, _V_APP, _V_SERVER, _V_IMAGE, _V_DEPS = 4, 5, 6, 7, 8


class ValuesIndex:
    """The values.yaml files under one services folder (``refresh``), each with its text's plain id. Paths are
    strings relative to the services folder (``values_rel``), ``/``-separated."""

    def __init__(self, services_path: Path, cache: Path | None, max_bytes: int, within: Path | None = None):
        self.services_path = services_path
        self.within = within  # no folder below it on the way to ``cache`` may be a symlink (core/fsio.py)
        self._base = str(services_path)
        self.cache = cache
        self.max_bytes = max_bytes
        self._folders: dict[str, list | int] = {}
        self._files: dict[str, list] = {}
        self._changed = False
        self._seen: set[str] = set()  # files whose stat ``entries`` checked in this run
        if cache is not None:
            refuse_symlinked(cache.parent, within)  # a symlinked dist/cache: exit 2, as for every output
            self._read(cache)

    def refresh(self) -> tuple[list[str], list[str]]:
        """(every values.yaml, every values.<env>.yaml) under the services folder as they are now, sorted,
        relative to it — what `services.find_values_files` finds, without listing an unchanged folder."""
        folders: dict[str, list | int] = {}
        values: list[str] = []
        overlays: list[str] = []
        known_folders, base, stat_of = self._folders, self._base + "/", os.stat  # locals: 10,000 turns
        todo = [""]
        while todo:
            rel = todo.pop()
            prefix = rel + "/" if rel else ""
            if type(known_folders.get(rel)) is int:  # a service folder seen before: unchanged if its mtime is
                try:
                    mtime = stat_of(base + rel).st_mtime_ns
                except OSError:
                    continue
                if known_folders[rel] == mtime:
                    folders[rel] = mtime
                    values.append(prefix + VALUES_FILE)
                    continue
            folder = self._folder(rel)
            if folder is None:
                continue
            if isinstance(folder, int):  # pragma: no cover - handled above
                folders[rel] = folder
                values.append(prefix + VALUES_FILE)
                continue
            folders[rel] = _compact(folder)
            if folder[_F_VALUES]:
                values.append(prefix + VALUES_FILE)
            for name in folder[_F_OVERLAYS]:
                overlays.append(prefix + name)
            for name in reversed(folder[_F_SUBDIRS]):
                todo.append(prefix + name)
        if len(folders) != len(self._folders) or folders.keys() != self._folders.keys():
            self._changed = True
        self._folders = folders
        return sorted(values), sorted(overlays)

    def _folder(self, rel: str) -> list | int | None:
        path = f"{self._base}/{rel}" if rel else self._base
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            return None
        known = self._folders.get(rel)
        if known == mtime or isinstance(known, list) and _folder_row(known) and known[_F_MTIME] == mtime \
                and known[_F_RACY] is False:
            return known
        now = time.time_ns()
        subdirs, has_values, overlays = [], False, []
        try:
            with os.scandir(path) as it:
                for entry in it:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    if is_dir:
                        if entry.name not in SKIP_DIRS and not entry.name.startswith(".") and not entry.is_symlink():
                            subdirs.append(entry.name)
                    elif entry.name == VALUES_FILE:
                        has_values = True
                    elif overlay_env(Path(entry.name)):
                        overlays.append(entry.name)
        except OSError:
            return None  # as os.walk: a folder that cannot be listed is skipped
        self._changed = True
        return [mtime, now - mtime < RACY_NS, sorted(subdirs), has_values, sorted(overlays)]

    def entries(self, rels: list[str]) -> list[tuple[str, str, str] | None]:
        """For each values.yaml of ``rels`` (from ``refresh``), the (app, server, image) its text plainly states,
        or None when it does not (`index.scan`): remembered while its stat is unchanged, else read again."""
        self._seen.update(rels)
        files, base, lstat = self._files, self._base + "/", os.lstat  # locals: 10,000 turns
        out: list[tuple[str, str, str] | None] = []
        for rel in rels:
            known = files.get(rel)
            try:
                info = lstat(base + rel)
            except OSError:
                out.append(None)
                continue
            if type(known) is list and len(known) == 9 and known[0] == info.st_mtime_ns \
                    and known[1] == info.st_ctime_ns \
                    and known[2] == info.st_size and known[3] == info.st_ino and known[_V_RACY] is False:
                out.append((known[_V_APP], known[_V_SERVER], known[_V_IMAGE]) if known[_V_APP] is not None else None)
            else:
                out.append(self._rescan(rel, info))
        return out

    def _rescan(self, rel: str, info: os.stat_result) -> tuple[str, str, str] | None:
        now = time.time_ns()
        found = scan(self.services_path / rel, self.max_bytes)
        if stat.S_ISREG(info.st_mode):
            self._files[rel] = [info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino,
                                now - info.st_mtime_ns < RACY_NS, found.app, found.server, found.image, None]
            self._changed = True
        elif self._files.pop(rel, None) is not None:
            self._changed = True
        return (found.app, found.server, found.image) if found.plain and found.app and found.server else None

    def deps(self, rel: str) -> list[str] | None:
        """The dependsOn remembered for ``rel`` (``entries`` checked it in this run), None when unknown."""
        known = self._files.get(rel) if rel in self._seen else None
        if type(known) is not list or len(known) != 9 or type(known[_V_DEPS]) is not list \
                or not all(type(d) is str for d in known[_V_DEPS]):
            return None
        return list(known[_V_DEPS]) if known[_V_RACY] is False else None

    def learn_deps(self, rel: str, deps: list[str]) -> None:
        """``rel`` was parsed in this run: remember its dependsOn with the stat ``entries`` took."""
        known = self._files.get(rel) if rel in self._seen else None
        if type(known) is list and len(known) == 9 and known[_V_DEPS] != deps:
            known[_V_DEPS] = list(deps)
            self._changed = True

    def save(self) -> None:
        """Write the index when it changed (files gone from the tree are dropped); a read-only checkout only
        loses the speed-up."""
        if self.cache is None:
            return
        if len(self._files) != len(self._seen) or self._files.keys() - self._seen:
            self._files = {k: v for k, v in self._files.items() if k in self._seen}
            self._changed = True
        if not self._changed:
            return
        body = json.dumps({"folders": self._folders, "files": self._files}, separators=(",", ":"))
        digest = hashlib.sha256(body.encode()).hexdigest()
        head = json.dumps({"format": CACHE_FORMAT, "root": self._base, "sha256": digest})
        with contextlib.suppress(OSError, SymlinkedFolder):  # read-only or symlinked dist/: only slower
            write_text_atomic(self.cache, head + "\n" + body, within=self.within)
        self._changed = False

    def _read(self, cache: Path) -> None:
        """The rows of ``cache`` when its header matches and its body is the one save() wrote (its SHA-256):
        save() writes only rows it built or read that way, so their shape needs no check row by row (10,000
        checks would cost more than the stats). A cache edited by hand or cut short is ignored."""
        try:
            head, _, body = cache.read_text(encoding="utf-8").partition("\n")
            meta = json.loads(head)
            if type(meta) is not dict or meta.get("format") != CACHE_FORMAT or meta.get("root") != self._base \
                    or meta.get("sha256") != hashlib.sha256(body.encode()).hexdigest():
                return
            collecting = gc.isenabled()
            gc.disable()  # 10,000 small lists: the cycle collector would walk them again and again, for nothing
            try:
                data = json.loads(body)
            finally:
                if collecting:
                    gc.enable()
        except (OSError, ValueError):
            return
        if type(data) is dict and type(data.get("folders")) is dict and type(data.get("files")) is dict:
            self._folders, self._files = data["folders"], data["files"]


def _compact(row: list) -> list | int:
    """A folder's row as its mtime alone when it is a plain service folder (see the row layout above)."""
    leaf = row[_F_RACY] is False and row[_F_VALUES] is True and not row[_F_SUBDIRS] and not row[_F_OVERLAYS]
    return row[_F_MTIME] if leaf else row


def _folder_row(row: object) -> bool:
    """A folder's row of the expected shape (names without `/`, not `.` or `..`): only such a row is used."""
    return (type(row) is list and len(row) == 5 and type(row[_F_MTIME]) is int and type(row[_F_VALUES]) is bool
            and type(row[_F_SUBDIRS]) is list and type(row[_F_OVERLAYS]) is list
            and all(type(n) is str and n and "/" not in n and n not in (".", "..")
                    for n in row[_F_SUBDIRS] + row[_F_OVERLAYS]))
