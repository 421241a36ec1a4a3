"""Synthetic monorepos for the scale benchmarks: N services committed to git (an `invoke` project), every
file changed after the commit, and large files (one random file hard-linked into every service folder).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from synth import make

ROOT = Path(__file__).resolve().parent.parent
GIT = ["git", "-c", "user.name=b", "-c", "user.email=b@b", "-c", "core.compression=0", "-c", "gc.auto=0"]


def project(root: Path, n: int, registry: str, helm: str | None = None) -> Path:
    """``n`` services (benchmarks/synth.py) with the tasks.py entry point and settings, committed to git."""
    make(root, n)
    shutil.copy(ROOT / "tasks.py", root / "tasks.py")
    settings = f"tars:\n  namespace: bench\n  registry: {registry}\n" + (f"  helm: {helm}\n" if helm else "")
    (root / "invoke.yaml").write_text(settings)
    commit(root, "services")
    return root


def commit(root: Path, message: str) -> str:
    """Commit everything; the new HEAD."""
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True, capture_output=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True, capture_output=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=root, check=True, capture_output=True)
    return head(root)


def head(root: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


def change_every_file(root: Path) -> int:
    """Append a line to every file of every service (values.yaml included): `git diff` names them all."""
    count = 0
    for dirpath, _, names in os.walk(root / "services"):
        for name in names:
            with open(os.path.join(dirpath, name), "a", encoding="utf-8") as fh:
                fh.write("# changed\n")
            count += 1
    return count


def add_big_files(root: Path, size: int, name: str = "data.bin") -> int:
    """One file of ``size`` random bytes in every service folder: written once, hard-linked into the others
    (git and the tool read each path; the disk holds it once). Returns how many were added."""
    folders = sorted(p.parent for p in (root / "services").glob("*/*/values.yaml"))
    first = folders[0] / name
    with open(first, "wb") as fh:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            fh.write(chunk)
            left -= len(chunk)
    for folder in folders[1:]:
        os.link(first, folder / name)
    return len(folders)
