"""The .tars files as they were at a git ref: what they said then.

The caller names the changed files (plan/changes.py changed_files, which also says why a ref is no base);
one `git cat-file --batch` reads all their old versions (a process per file would cost more than parsing them).
"""
from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tars_tasks.core.errors import InputError, Problem, UsageError
from tars_tasks.interfaces.model import IdlFile
from tars_tasks.interfaces.parser import parse_text

GIT_TIMEOUT = 120


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise UsageError("git is not installed; --since needs it") from None
    except subprocess.TimeoutExpired:
        raise UsageError(f"git {args[0]} timed out") from None


def texts_at(root: Path, ref: str, paths: Sequence[str]) -> dict[str, str | None]:
    """path -> its text at ``ref`` (None: it did not exist then)."""
    if not paths:
        return {}
    prefix = _git(root, "rev-parse", "--show-prefix").stdout.decode().strip()
    request = "".join(f"{ref}:{prefix}{p}\n" for p in paths).encode()
    out = _git(root, "cat-file", "--batch", stdin=request).stdout
    texts: dict[str, str | None] = {}
    pos = 0
    for path in paths:
        end = out.index(b"\n", pos)
        line = out[pos:end]
        pos = end + 1
        if line.endswith((b" missing", b" ambiguous")):
            texts[path] = None
            continue
        _, kind, size = line.rsplit(b" ", 2)
        texts[path] = out[pos:pos + int(size)].decode("utf-8", "replace") if kind == b"blob" else None
        pos += int(size) + 1
    return texts


def parsed_at(root: Path, ref: str, paths: Sequence[str]) -> tuple[dict[str, IdlFile | None], dict[str, Problem]]:
    """path -> the file parsed as it was at ``ref`` (None: it did not exist), and path -> the first error of
    each that did not parse then (left out of the first: what it defined then is unknown)."""
    parsed: dict[str, IdlFile | None] = {}
    failed: dict[str, Problem] = {}
    for path, text in texts_at(root, ref, paths).items():
        if text is None:
            parsed[path] = None
            continue
        try:
            parsed[path] = parse_text(text, path)
        except InputError as exc:
            failed[path] = exc.problems[0]
    return parsed, failed
