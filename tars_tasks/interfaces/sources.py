"""Which files of the monorepo belong to which service: the files git tracks under the services folder, each
given to the service whose folder holds it (the deepest one, when service folders nest).

Only tracked files count (`git ls-files`), so generated stubs, build outputs and a developer's scratch files
are never parsed or scanned; outside a git work tree every file found by a walk counts (core/files.py).
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tars_tasks.core.files import FileLister
from tars_tasks.core.services import RealPaths, Service
from tars_tasks.core.settings import Settings

IDL_SUFFIX = ".tars"


def tracked_files(root: Path, under: str) -> list[str]:
    """Repo-relative paths (sorted) of the files git tracks at or below ``under``; a walk outside git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--", under or "."], cwd=root,
                             capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        out = None
    if out is None or out.returncode != 0:
        return FileLister(root).fresh_under(under or ".")  # walks only ``under``
    return sorted(f for f in out.stdout.decode("utf-8", "surrogateescape").split("\0") if f)


def services_folder(settings: Settings) -> str:
    """The services folder relative to the root (tars.services_dir), "." when it is not inside it."""
    try:
        return settings.services_path.resolve().relative_to(settings.root.resolve()).as_posix()
    except ValueError:
        return "."


def relative_folder(service: Service, root: Path) -> str:
    """The service's folder relative to ``root`` ("" when it is outside, which discovery never produces)."""
    try:
        return service.dir.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return ""


class Homes:
    """path -> id of the service whose folder holds it. One dictionary look-up per parent folder."""

    def __init__(self, root: Path, services: Iterable[Service]):
        self.folders: dict[str, str] = {}
        realpath = RealPaths()
        base = os.path.realpath(root)
        prefix = base.rstrip("/") + "/"
        for s in services:
            real = realpath(s.dir)  # as relative_folder, one lstat per service
            folder = "." if real == base else real[len(prefix):] if real.startswith(prefix) else ""
            if folder and s.app and s.server:
                self.folders[folder] = s.id
        self.folder_of = {sid: folder for folder, sid in self.folders.items()}

    def of(self, path: str) -> str | None:
        end = path.rfind("/")
        while end > 0:  # each parent folder, deepest first (string slices: this runs once per file)
            sid = self.folders.get(path[:end])
            if sid is not None:
                return sid
            end = path.rfind("/", 0, end)
        return self.folders.get(".")  # a service at the root of the repository

    def inside(self, path: str, sid: str) -> bool:
        return self.of(path) == sid


def by_service(homes: Homes, files: Iterable[str]) -> dict[str, list[str]]:
    """service id -> its files (in the order given)."""
    out: dict[str, list[str]] = {}
    for f in files:
        sid = homes.of(f)
        if sid is not None:
            out.setdefault(sid, []).append(f)
    return out
