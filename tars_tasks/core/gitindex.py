"""The blob ids git already knows: content ids of tracked files whose working copy equals the index.

Hashing every file of every service on every run re-reads bytes git has hashed already (6 GB of large
files: seconds per plan). Two git calls per run say which files need no reading at all:

- `git ls-files -s -v -z`: mode, blob id and stage of every index entry; `-v` marks entries git is told not
  to look at (assume-unchanged `h`, skip-worktree `S`), which are never trusted;
- `git diff-files --name-only -z`: the tracked files whose working copy differs from the index (content or
  mode). It compares stat data, and reads the content of "racily clean" entries (modified in the same
  instant the index was written), so a file it does not name has the index's content. A file that is only
  stat-dirty (touched) is named too: it is then hashed, which costs time, never correctness.

Trusted: a stage-0 regular file (100644/100755) tagged `H` and not named by diff-files. Everything else (a
modified, untracked, symlinked, conflicted or assume-unchanged file, or no git at all) is hashed here the way
git hashes a blob (`blob <size>\\0<content>`, streamed in chunks), so the same content gets the same id
whichever way it was found (unless git converts the file on the way in: autocrlf, clean filters such as LFS;
then a change still changes the id, only the ids of the committed and the working copy differ).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

CHUNK = 1 << 20
_TRUSTED_MODES = ("100644", "100755")


class GitIndex:
    """The trusted blob ids of one repository (paths relative to ``root``), read once on first use: of the
    folders given to ``scope`` when every asked path lies in one of them (FileLister's listings of a few
    services), else of the whole repository."""

    def __init__(self, root: Path):
        self.root = root
        self._known: dict[str, str] | None = None
        self._scopes: dict[str, dict[str, str] | None] = {}  # folder -> its trusted ids (None: not read yet)
        self._algorithm: str | None = None  # the repository's object format, asked when a file is hashed
        self._lock = threading.Lock()

    def scope(self, rel: str) -> None:
        """Paths at or below ``rel`` may be answered from git's entries of ``rel`` alone."""
        with self._lock:
            self._scopes.setdefault(rel, None)

    def blob_id(self, rel: str) -> str | None:
        """The index's blob id of ``rel`` when its working copy is known to equal it, else None."""
        return self._load(rel).get(rel)

    def content_id(self, rel: str) -> str:
        """The blob id of the working copy of ``rel``: from the index when trusted, else hashed here."""
        return self.blob_id(rel) or self.hash_file(self.root / rel)

    def _load(self, rel: str = ".") -> dict[str, str]:
        with self._lock:
            if self._known is not None:
                return self._known
            for prefix, known in self._scopes.items():
                if rel == prefix or rel.startswith(prefix + "/"):
                    if known is None:
                        known = self._scopes[prefix] = self._read(prefix)
                    return known
            self._known = self._read(".")
            return self._known

    def hash_file(self, path: Path) -> str:
        """The blob id git would give the content of ``path`` (after symlinks), read in chunks. A file that
        grows or shrinks while read gets an id of its stated size and the bytes read: still its content's."""
        if self._algorithm is None:
            fmt = _git(self.root, "rev-parse", "--show-object-format")
            self._algorithm = "sha256" if fmt is not None and fmt.strip() == b"sha256" else "sha1"
        digest = hashlib.new(self._algorithm)
        with path.open("rb") as fh:
            digest.update(f"blob {os.fstat(fh.fileno()).st_size}\0".encode())
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _read(self, rel: str) -> dict[str, str]:
        staged = _git(self.root, "--literal-pathspecs", "ls-files", "-s", "-v", "-z", "--", rel)
        if staged is None:
            return {}
        known: dict[str, str] = {}
        for entry in staged.split(b"\0"):
            if not entry:
                continue
            info, _, name = entry.partition(b"\t")
            fields = info.split()
            if len(fields) != 4:
                return {}  # not the format this reads: trust nothing
            tag, mode, blob, stage = (f.decode("ascii", "replace") for f in fields)
            if tag == "H" and stage == "0" and mode in _TRUSTED_MODES:
                known[name.decode("utf-8", "surrogateescape")] = blob
        dirty = _git(self.root, "--literal-pathspecs", "diff-files", "--name-only", "-z", "--relative", "--", rel)
        if dirty is None:
            return {}
        for path in dirty.decode("utf-8", "surrogateescape").split("\0"):
            known.pop(path, None)
        return known


def _git(root: Path, *args: str) -> bytes | None:
    """stdout of a git command in ``root``, or None when git is missing, fails, or this is no work tree."""
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None
