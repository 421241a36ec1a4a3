"""Content fingerprints: the image tag of a service is a hash of everything its image is made from.

Inputs: the files of the service (`tars_tasks.core.files.service_files`: what git tracks or would track in
its folder, minus `.dockerignore`, minus values.yaml), the same set its build context is made from; the
files `build.files` names that git lists but .dockerignore excludes (they go into the image all the same);
the service's own Dockerfile; each `build.inputs` path; the Dockerfile template; the base image; the
normalised build spec (type, files, command, args, env and secrets names). Each file counts by its path, its
executable bit and its content id: git's blob id, taken from the index when git knows the file unmodified
(no byte of it read), else computed the same way from the bytes (`tars_tasks.core.gitindex`), so the same
content gives the same tag committed, staged, modified or outside git. Never a file that resolves outside
the service folder (files) or the repository (inputs): see `tars_tasks.core.files`. Not git-ignored files:
those are build outputs, made by `build.command` from what is hashed. Not its dependencies: a service's
image does not change because a service it depends on changed.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from tars_tasks.core import assets
from tars_tasks.core.files import DockerIgnore, FileLister, input_files, resolves_inside, service_files
from tars_tasks.image.spec import BuildSpec, inside_folder

FINGERPRINT_VERSION = "2"  # bump when the hashing scheme changes


@lru_cache(maxsize=64)
def _template_bytes(kind: str) -> bytes:
    """The type's Dockerfile template and the base template it extends."""
    out = b""
    for name in (f"{kind}.Dockerfile.j2", "_base.Dockerfile.j2"):
        path = assets.dockerfiles_dir() / name
        out += name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0"
    return out


def _hash_file(digest: hashlib._Hash, lister: FileLister, rel: str) -> None:
    """Path, executable bit (of the working copy) and content id: git's blob id when its index knows the
    file unmodified, else the same id computed from the bytes, streamed (`tars_tasks.core.gitindex`)."""
    st = os.stat(os.path.join(lister.root, rel))
    digest.update(rel.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(b"x" if st.st_mode & 0o111 else b"-")
    digest.update(lister.index.content_id(rel).encode() + b"\0")


def fingerprint(root: Path, service_dir: Path, spec: BuildSpec, lister: FileLister) -> str:
    """The hex sha256 of everything the service's image is made from."""
    digest = hashlib.sha256()
    digest.update(f"tars-tasks-fingerprint-v{FINGERPRINT_VERSION}\0".encode())
    service_rel = os.path.relpath(service_dir, root).replace(os.sep, "/")
    ignore = DockerIgnore.of(service_dir)
    digest.update(b"spec\0" + repr(sorted(spec.to_json().items())).encode() + b"\0")
    if not spec.dockerfile:
        digest.update(b"template\0" + _template_bytes(spec.type))
    files = service_files(lister, service_rel, ignore)
    for rel in files:
        _hash_file(digest, lister, rel)
    for rel in _named_beyond(root, service_rel, spec, lister, set(files)):
        digest.update(b"named\0")
        _hash_file(digest, lister, rel)
    for inp in spec.inputs:
        digest.update(b"input\0" + inp.encode() + b"\0")
        for rel in input_files(lister, inp):
            _hash_file(digest, lister, rel)
    return digest.hexdigest()


def _named_beyond(root: Path, service_rel: str, spec: BuildSpec, lister: FileLister, hashed: set[str]) -> list[str]:
    """Files the build puts in the image by name that are not among the files of the service: the own
    Dockerfile when .dockerignore or git leaves it out, and named files that .dockerignore excludes."""
    def repo_rel(entry: str) -> str | None:
        inner = inside_folder(entry)
        if inner is None or inner == ".":
            return None
        rel = inner if service_rel in ("", ".") else f"{service_rel}/{inner}"
        return None if rel in hashed else rel

    service_dir = root / service_rel if service_rel not in ("", ".") else root
    out = {rel for rel in map(repo_rel, spec.files)
           if rel and lister.under(rel) == [rel] and resolves_inside(root / rel, service_dir)}
    dockerfile = repo_rel(spec.dockerfile) if spec.dockerfile else None
    if dockerfile and (root / dockerfile).is_file() and resolves_inside(root / dockerfile, service_dir):
        out.add(dockerfile)
    return sorted(out)


def default_tag(fp: str) -> str:
    return fp[:16]

