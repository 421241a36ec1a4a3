"""What changed since a git ref: files → services (their folder or a declared build input).

A change to the chart template or the Dockerfile templates touches every service. A ref that the
clone does not have (a shallow CI clone) is a clear error, never "everything changed". A base that names
no commit — empty or all zeros (GitLab's CI_COMMIT_BEFORE_SHA of a new branch or a manually started
pipeline), or a full commit id this complete clone does not have (history rewritten) — is reported by
``no_base`` so the plan compares with the cluster instead.
"""
from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from tars_tasks.core import assets
from tars_tasks.core.errors import UsageError
from tars_tasks.core.overlays import ENV_DIR, overlay_env
from tars_tasks.core.services import Service


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise UsageError("git is not installed; --since needs it") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {' '.join(args)} timed out") from None


def no_base(root: Path, ref: str) -> str | None:
    """Why ``ref`` cannot serve as the base of --since (None: it can, or the error is changed_files' to give)."""
    if not ref.strip():
        return "no base commit given"
    if re.fullmatch(r"0{7,64}", ref):
        return f"the base commit {ref[:8]}… is all zeros (a new branch or a manually started pipeline)"
    if (re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", ref)
            and _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "false"
            and _git(root, "cat-file", "-e", f"{ref}^{{commit}}").returncode != 0):
        return f"the base commit {ref[:12]} is not in this repository (history rewritten?)"
    return None


def changed_files(root: Path, ref: str) -> list[str]:
    """Repo-root-relative paths that differ between ``ref`` and the working tree (untracked files included)."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError(f"--since {ref}: {root} is not a git repository")
    if _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        shallow = _git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
        hint = (" This is a shallow clone: fetch more history (e.g. `git fetch --deepen=50 origin` or "
                "fetch-depth: 0 in CI)." if shallow else "")
        raise UsageError(f"--since {ref}: no such commit in this clone.{hint}")
    # --relative: paths relative to (and limited to) the project root, like ls-files below
    diff = _git(root, "diff", "--name-only", "-z", "--no-renames", "--relative", ref, "--")
    if diff.returncode != 0:
        raise UsageError(f"--since {ref}: git diff failed: {diff.stderr.strip()}")
    untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard")
    return sorted({f for f in (diff.stdout + "\0" + untracked.stdout).split("\0") if f})


def tool_paths(root: Path, chart_dir: Path | None = None) -> list[str]:
    """Repo-relative folders whose change touches every service: the chart (the monorepo's own with
    tars.chart_dir, else the tool's when the tool lives in this repository) and the Dockerfile templates."""
    out = []
    for folder in (chart_dir or assets.chart_dir(), assets.dockerfiles_dir()):
        try:
            out.append(Path(str(folder)).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            continue
    return out


def for_environment(files: list[str], env: str) -> list[str]:
    """The changed files that matter to ``env``: another environment's overlays do not."""
    def other(f: str) -> bool:  # string operations: this runs once per changed file
        parent, _, name = f.rpartition("/")
        stem, dot, suffix = name.rpartition(".")
        if parent == ENV_DIR and dot and suffix in ("yaml", "yml"):
            return stem != env
        found = overlay_env(Path(name)) if name.startswith("values.") else None
        return found is not None and found != env

    return [f for f in files if not other(f)]


def _ancestors(path: str) -> list[str]:
    """``a/b/c`` -> ``a/b/c``, ``a/b``, ``a``: every key a changed path can meet in a folder -> services dict."""
    out = [path]
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        out.append(path)
    return out


def _folder_of(folder: Path, root: str, real_root: Path) -> str:
    """The repo-relative path of a service folder: by string when it is below ``root`` (with a trailing
    separator) and not itself a symlink (a walk of the services folder follows none below it), else after
    resolving symlinks."""
    path = str(folder)
    if path.startswith(root) and not os.path.islink(path):
        return path[len(root):].replace(os.sep, "/") or "."
    return folder.resolve().relative_to(real_root).as_posix()


def services_touched(root: Path, services: Iterable[Service], files: list[str],
                     chart_dir: Path | None = None, env: str = "") -> dict[str, list[str]]:
    """service id -> the changed files that touch it (for ``env``: its overlays, not other environments').

    Linear in files + services: each changed path walks up its own folders in a dict of service folders
    and build.inputs (path -> service ids), instead of being tested against every service."""
    files = for_environment(files, env)
    env_wide = {f"{ENV_DIR}/{env}.yaml", f"{ENV_DIR}/{env}.yml"} if env else set()
    tools = {p.strip("/") for p in tool_paths(root, chart_dir)}
    everything = "" in tools or "." in tools
    global_hits = [f for f in files if everything or f in env_wide or any(a in tools for a in _ancestors(f))]
    owners: dict[str, list[str]] = {}  # repo-relative folder or input -> the services it belongs to
    catch_all: list[str] = []  # services whose folder or an input is the whole repository
    real_root = root.resolve()
    root_prefix = os.path.join(str(root), "")  # "…/repo/": a service folder's path starts with it
    ids = []
    for s in services:
        ids.append(s.id)
        keys = {_folder_of(s.dir, root_prefix, real_root)}
        inputs = (s.values.get("build") or {}).get("inputs") or []
        keys.update(i.strip("/") for i in inputs if isinstance(i, str))
        if keys & {"", "."}:
            catch_all.append(s.id)
        for key in keys - {"", "."}:
            owners.setdefault(key, []).append(s.id)
    hits: dict[str, set[str]] = {}
    for f in files:
        for folder in _ancestors(f):
            for sid in owners.get(folder, ()):
                hits.setdefault(sid, set()).add(f)
    for sid in catch_all:
        hits.setdefault(sid, set()).update(files)
    if global_hits:
        for sid in ids:
            hits.setdefault(sid, set()).update(global_hits)
    return {sid: sorted(hits[sid]) for sid in ids if hits.get(sid)}
