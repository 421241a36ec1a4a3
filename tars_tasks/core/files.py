"""The files of a service: one definition, used by its image tag (the fingerprint) and its build context.

The files of a service are the files of its folder that git tracks or would track (tracked, plus untracked
but not ignored: `git ls-files --cached --others --exclude-standard`), minus what the folder's
`.dockerignore` excludes, minus `values.yaml` (deploy configuration) and `.dockerignore` itself. Outside a
git work tree every file counts (a walk that skips `.git`, `__pycache__`, and `dist`/`.tools` at the top).

Nothing from outside: a file counts only when it resolves, after symlinks, inside its boundary (the service
folder for the files of a service, the repository for `build.inputs`). A committed symlink `pw -> /etc/passwd`
is left out of every hash and build context here, and reported by validation (`tars_tasks.image.spec`).
Git and the walk never descend into a symlinked folder, so only a listed file itself can be a symlink.

A git-ignored file is a build output: it is never one of the files of a service, so it neither changes
the tag nor slips into the image by accident. `tars_tasks.image.images` takes build outputs only when
`build.files` names them (see its docstring).
"""
from __future__ import annotations

import bisect
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tars_tasks.core.gitindex import GitIndex
from tars_tasks.core.overlays import overlay_env
from tars_tasks.core.services import VALUES_FILE

_WALK_SKIP_ANYWHERE = (".git", "__pycache__")
FEW_SERVICES = 4  # up to this many services: list their folders (FileLister few), not the whole repository
_WALK_SKIP_AT_TOP = (".tools", "dist")


class FileLister:
    """Lists a repository's files (git when available, else a walk) and answers per folder.

    Paths are relative to ``root`` with ``/`` separators, sorted. ``under`` answers from a listing made on
    first use: of the whole repository (one git call for a plan of everything), or with ``few`` (the caller
    asks about a few services) of the asked folder alone while at most ``SCOPED_LISTINGS`` are asked
    (`template --service X` in a repository of 10,000 services lists one folder, not 30,000 files).
    ``fresh_under`` lists again (after a build command wrote files, say). ``index`` gives the content id of a
    listed file, from git's index when git knows it (`tars_tasks.core.gitindex`), read for the same folders.
    """

    SCOPED_LISTINGS = 16

    def __init__(self, root: Path, few: bool = False):
        self.root = root
        self.few = few
        self._files: list[str] | None = None
        self._scoped: dict[str, list[str]] = {}  # folder (or file) -> its files, while no whole listing exists
        self._git: bool | None = None
        self.index = GitIndex(root)

    def all_files(self) -> list[str]:
        if self._files is None:
            listed = self._git_files(".")
            self._files = listed if listed is not None else self._walk_files(".")
            self._scoped.clear()
        return self._files

    def under(self, rel: str) -> list[str]:
        """Files at or below the repo-relative path ``rel`` (as first listed)."""
        rel = _clean(rel)
        if rel == ".":
            return list(self.all_files())
        if self._files is not None:
            return _below(self._files, rel)
        for prefix, files in self._scoped.items():
            if rel == prefix or rel.startswith(prefix + "/"):
                return _below(files, rel)
        if rel.startswith("/") or os.path.normpath(rel) != rel or rel.startswith("../") or rel == "..":
            return []  # never a listed path (those are normalised and inside the repository)
        listed = self._git_files(rel) if self.few and len(self._scoped) < self.SCOPED_LISTINGS else None
        if listed is None:  # outside git (the walk never follows a symlinked folder: walk it all), or not few
            return _below(self.all_files(), rel)
        self._scoped[rel] = listed
        self.index.scope(rel)
        return list(listed)

    def fresh_under(self, rel: str) -> list[str]:
        """Files at or below ``rel`` as they are now (not cached)."""
        rel = _clean(rel)
        listed = self._git_files(rel)
        return listed if listed is not None else self._walk_files(rel)

    def ignored(self, rel: str) -> bool:
        """Whether git ignores the path ``rel`` (a file, or a folder as a whole). False outside git."""
        if not self._in_git():
            return False
        try:
            proc = subprocess.run(["git", "check-ignore", "-q", "--", _clean(rel)], cwd=self.root,
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return proc.returncode == 0

    def _in_git(self) -> bool:
        if self._git is None:
            try:
                top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=self.root, capture_output=True,
                                     text=True, timeout=30)
                self._git = top.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                self._git = False
        return self._git

    def _git_files(self, rel: str) -> list[str] | None:
        if not self._in_git():
            return None
        try:
            out = subprocess.run(["git", "--literal-pathspecs", "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard", "--", rel],
                                 cwd=self.root, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return None
        files = sorted({f for f in out.stdout.decode("utf-8", "surrogateescape").split("\0") if f})
        root = str(self.root)  # strings, not Paths: this runs once per file of the repository
        return [f for f in files if os.path.isfile(os.path.join(root, f))]  # deleted-but-tracked files are gone

    def _walk_files(self, rel: str) -> list[str]:
        start = self.root / rel
        if start.is_file():
            return [rel]
        found = []
        for dirpath, dirnames, filenames in os.walk(start):
            at_top = Path(dirpath) == self.root
            dirnames[:] = [d for d in dirnames
                           if d not in _WALK_SKIP_ANYWHERE and not (at_top and d in _WALK_SKIP_AT_TOP)]
            for name in filenames:
                if os.path.isfile(os.path.join(dirpath, name)):  # not a dangling or looping symlink
                    found.append(os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/"))
        return sorted(found)


def _below(files: list[str], rel: str) -> list[str]:
    """The paths of sorted ``files`` at or below ``rel``: rel itself, then everything in [rel + "/", rel + "0")
    ("0" follows "/"): two bisects."""
    at = bisect.bisect_left(files, rel)
    exact = [rel] if at < len(files) and files[at] == rel else []
    return exact + files[bisect.bisect_left(files, rel + "/"):bisect.bisect_left(files, rel + "0")]


def _clean(rel: str) -> str:
    rel = rel.replace(os.sep, "/").strip("/")
    return rel if rel not in ("", ".") else "."


@dataclass(frozen=True)
class DockerIgnore:
    """The subset of .dockerignore that matters here: globs with ** and ! exceptions, last match wins."""

    rules: tuple[tuple[bool, re.Pattern[str]], ...]

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        rules = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:].strip() if negate else line
            pattern = os.path.normpath(pattern).lstrip("/").replace(os.sep, "/")
            rules.append((negate, _compile(pattern)))
        return cls(tuple(rules))

    @classmethod
    def of(cls, folder: Path) -> DockerIgnore:
        """The rules of ``folder/.dockerignore`` (none when there is no such file)."""
        path = folder / ".dockerignore"
        if not path.is_file() or not resolves_inside(path, folder):  # never read a file from outside
            return cls(())
        return cls.parse(path.read_text(encoding="utf-8", errors="replace"))

    def ignored(self, rel: str) -> bool:
        parts = rel.split("/")
        result = False
        for negate, rx in self.rules:
            # a pattern matching a parent folder excludes everything inside it
            if any(rx.match("/".join(parts[: i + 1])) for i in range(len(parts))):
                result = not negate
        return result


def _compile(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        else:
            ch = pattern[i]
            out += "[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) if ch != "[" else "["
            i += 1
    try:
        return re.compile(f"^{out}$")
    except re.error:
        return re.compile("^" + re.escape(pattern) + "$")


def in_image(inner: str, ignore: DockerIgnore) -> bool:
    """Whether a file of the service folder (path inside it) is image content. values.yaml is deploy
    configuration: changing replicas or a config redeploys the chart, it does not rebuild the image
    (its `build` section is hashed separately, as the build spec)."""
    if inner in (VALUES_FILE, ".dockerignore") or (
            "/" not in inner and inner.startswith("values.") and overlay_env(Path(inner))):
        return False  # values.<env>.yaml overlays too: the image is the same in every environment
    return not ignore.ignored(inner)


def inner_path(service_rel: str, rel: str) -> str:
    """The path inside the service folder of the repo-relative ``rel``."""
    return rel if service_rel in ("", ".") else rel[len(service_rel) + 1:]


def resolves_inside(path: Path, boundary: Path) -> bool:
    """Whether ``path``, after every symlink, is ``boundary`` or below it. A path written below ``boundary``
    with no symlink among its parts below it is decided by one lstat per part (no realpath: this runs for
    every named file of every service)."""
    rel = os.path.relpath(path, boundary)
    parts = rel.split(os.sep)
    if rel == ".":
        return True
    if ".." not in parts and not os.path.isabs(rel):
        here = str(boundary)
        for part in parts:
            here = os.path.join(here, part)
            if os.path.islink(here):
                break
        else:
            return True
    try:
        real, base = os.path.realpath(path), os.path.realpath(boundary)
    except (OSError, ValueError):
        return False
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def escaping(root: Path, rels: list[str], boundary: Path) -> list[str]:
    """The repo-relative files of ``rels`` that resolve outside ``boundary`` (only symlinks can)."""
    base = str(root)
    return [rel for rel in rels
            if os.path.islink(os.path.join(base, rel)) and not resolves_inside(root / rel, boundary)]


def _folder(root: Path, rel: str) -> Path:
    return root if rel in ("", ".") else root / rel


def service_files(lister: FileLister, service_rel: str, ignore: DockerIgnore, *, fresh: bool = False) -> list[str]:
    """The files of a service (see the module docstring), repo-relative and sorted.

    ``fresh`` lists the folder again instead of using the lister's first listing: the build context is
    made after the build command ran, the tag before.
    """
    listed = lister.fresh_under(service_rel) if fresh else lister.under(service_rel)
    files = [f for f in listed if in_image(inner_path(service_rel, f), ignore)]
    outside = set(escaping(lister.root, files, _folder(lister.root, service_rel)))
    return [f for f in files if f not in outside] if outside else files


def escaping_service_files(lister: FileLister, service_rel: str, ignore: DockerIgnore) -> list[str]:
    """The files of a service left out because they resolve outside its folder (for validation)."""
    listed = [f for f in lister.under(service_rel) if in_image(inner_path(service_rel, f), ignore)]
    return escaping(lister.root, listed, _folder(lister.root, service_rel))


def input_files(lister: FileLister, rel: str) -> list[str]:
    """The files of one `build.inputs` path that resolve inside the repository, repo-relative and sorted."""
    listed = lister.under(rel)
    outside = set(escaping(lister.root, listed, lister.root))
    return [f for f in listed if f not in outside] if outside else listed


def escaping_input_files(lister: FileLister, rel: str) -> list[str]:
    """The files of one `build.inputs` path left out because they resolve outside the repository."""
    return escaping(lister.root, lister.under(rel), lister.root)
