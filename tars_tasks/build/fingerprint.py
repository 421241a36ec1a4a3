"""Content fingerprints: the image tag of a service is a hash of everything its image is made from.

Inputs: the service folder's files that git tracks or would track (untracked but not ignored), minus
`.dockerignore`; each `build.inputs` path; the Dockerfile template (or the service's Dockerfile); the
base image; the normalised build spec (type, files, command, args). Not its dependencies: a service's
image does not change because a service it depends on changed.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tars_tasks.build.spec import BuildSpec
from tars_tasks.core import assets
from tars_tasks.core.services import VALUES_FILE

FINGERPRINT_VERSION = "1"  # bump when the hashing scheme changes


class FileLister:
    """Lists a repository's files once (git when available, else a walk) and answers per folder."""

    def __init__(self, root: Path):
        self.root = root
        self._files: list[str] | None = None

    def all_files(self) -> list[str]:
        if self._files is None:
            self._files = self._git_files() or self._walk_files()
        return self._files

    def _git_files(self) -> list[str] | None:
        try:
            top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=self.root, capture_output=True,
                                 text=True, timeout=30)
            if top.returncode != 0:
                return None
            out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
                                 cwd=self.root, capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode != 0:
            return None
        files = sorted({f for f in out.stdout.decode("utf-8", "surrogateescape").split("\0") if f})
        return [f for f in files if (self.root / f).is_file()]  # deleted-but-tracked files are gone

    def _walk_files(self) -> list[str]:
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = [d for d in dirnames if d not in (".git", ".tools", "dist", "__pycache__")]
            for name in filenames:
                found.append(os.path.relpath(os.path.join(dirpath, name), self.root).replace(os.sep, "/"))
        return sorted(found)

    def under(self, rel: str) -> list[str]:
        """Files at or below the repo-relative path ``rel``."""
        rel = rel.strip("/").replace(os.sep, "/")
        if rel in ("", "."):
            return list(self.all_files())
        prefix = rel + "/"
        files = self.all_files()
        import bisect
        start = bisect.bisect_left(files, rel)
        out = []
        for f in files[start:]:
            if f == rel or f.startswith(prefix):
                out.append(f)
            elif f > prefix and not f.startswith(rel):
                break
        return out


@dataclass(frozen=True)
class DockerIgnore:
    """The subset of .dockerignore that matters here: globs with ** and ! exceptions, last match wins."""

    rules: tuple[tuple[bool, re.Pattern], ...]

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
        return cls.parse(path.read_text(encoding="utf-8", errors="replace")) if path.is_file() else cls(())

    def ignored(self, rel: str) -> bool:
        parts = rel.split("/")
        result = False
        for negate, rx in self.rules:
            # a pattern matching a parent folder excludes everything inside it
            if any(rx.match("/".join(parts[: i + 1])) for i in range(len(parts))):
                result = not negate
        return result


def _compile(pattern: str) -> re.Pattern:
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
    return inner != VALUES_FILE and inner != ".dockerignore" and not ignore.ignored(inner)


def service_files(lister: FileLister, service_rel: str, ignore: DockerIgnore) -> list[str]:
    """Repo-relative files of a service folder that go into its build context."""
    out = []
    for f in lister.under(service_rel):
        inner = f[len(service_rel) + 1:] if service_rel not in ("", ".") else f
        if in_image(inner, ignore):
            out.append(f)
    return out


@lru_cache(maxsize=64)
def _template_bytes(kind: str) -> bytes:
    """The type's Dockerfile template and the base template it extends."""
    out = b""
    for name in (f"{kind}.Dockerfile.j2", "_base.Dockerfile.j2"):
        path = assets.dockerfiles_dir() / name
        out += name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0"
    return out


def _hash_file(digest, root: Path, rel: str) -> None:
    path = root / rel
    st = path.stat()
    digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(b"x" if st.st_mode & 0o111 else b"-")
    with path.open("rb") as fh:
        digest.update(hashlib.sha256(fh.read()).digest())


def fingerprint(root: Path, service_dir: Path, spec: BuildSpec, lister: FileLister) -> str:
    """The hex sha256 of everything the service's image is made from."""
    digest = hashlib.sha256()
    digest.update(f"tars-tasks-fingerprint-v{FINGERPRINT_VERSION}\0".encode())
    service_rel = os.path.relpath(service_dir, root).replace(os.sep, "/")
    ignore = DockerIgnore.of(service_dir)
    digest.update(b"spec\0" + repr(sorted(spec.to_json().items())).encode() + b"\0")
    if not spec.dockerfile:
        digest.update(b"template\0" + _template_bytes(spec.type))
    for rel in service_files(lister, service_rel, ignore):
        _hash_file(digest, root, rel)
    for inp in spec.inputs:
        digest.update(b"input\0" + inp.encode() + b"\0")
        for rel in lister.under(inp):
            _hash_file(digest, root, rel)
    return digest.hexdigest()


def default_tag(fp: str) -> str:
    return fp[:16]

