"""Parsed .tars files kept between runs (`<dist>/cache/interfaces.json`), so `validate`, `plan` and
`interfaces` parse only the files that changed since the last run. A derived file like the rest of dist/:
deleting it costs one full parse.

An entry is used only when all of these still hold: the file's bytes have the same SHA-1, the parser is the
same (a digest of the parser's own source: grammar, lexer, builder, model), and every `#include` it resolved
still names a file (one that did not resolve is parsed again: it may resolve now). The cache is JSON read
into the model's own classes only, so an edited or corrupt cache is at worst ignored, never executed.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import fields
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from tars_tasks.core.errors import Problem
from tars_tasks.core.fsio import SymlinkedFolder, refuse_symlinked, write_text_atomic
from tars_tasks.core.settings import Settings
from tars_tasks.interfaces import model

CACHE_FORMAT = "tars-tasks/idl-cache@1"
_CLASSES: dict[str, type] = {c.__name__: c for c in (model.Param, model.Method, model.Field, model.Interface,
                                                      model.Struct, model.Enum, model.Const, model.Include,
                                                      model.IdlFile)}


@lru_cache(maxsize=1)
def parser_digest() -> str:
    """A digest of every source file of the parser package: any change to it makes every entry stale."""
    digest = hashlib.sha1()
    package = resources.files("tars_tasks.interfaces")
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".py", ".lark")):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()


_FIELDS: dict[type, tuple[str, ...]] = {c: tuple(f.name for f in fields(c)) for c in _CLASSES.values()}


def _as_json(value: Any) -> Any:
    """json.dumps' `default`: a model value as {"@": class name, "v": its fields in order} (tuples are lists
    to json already). Field names per class are looked up once and the C encoder walks everything else:
    encoding object by object in Python was a quarter of a cold interface check."""
    names = _FIELDS.get(type(value))
    if names is None:
        raise TypeError(f"{type(value).__name__} is not a class the cache can read back")
    return {"@": type(value).__name__, "v": [getattr(value, name) for name in names]}


_NESTED = (dict, list)


def _decode(value: Any) -> Any:
    """The inverse of _encode, for the model's classes only (anything else is a KeyError or TypeError)."""
    if type(value) is dict:
        return _CLASSES[value["@"]](*[_decode(v) if type(v) in _NESTED else v for v in value["v"]])
    if type(value) is list:
        return tuple([_decode(v) if type(v) in _NESTED else v for v in value])
    return value


class ParseCache:
    """path -> (SHA-1 of its bytes, the parsed file or None, its problems). ``path`` None: no cache."""

    def __init__(self, path: Path | None, within: Path | None = None):
        self.path = path
        self.within = within  # no folder below it on the way to ``path`` may be a symlink (core/fsio.py)
        self.entries: dict[str, dict] = {}
        self.changed = False
        if path is not None:
            refuse_symlinked(path.parent, within)  # a symlinked dist/cache: exit 2, as for every output
            self.entries = self._read(path)

    @staticmethod
    def _read(path: Path) -> dict[str, dict]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT or data.get("parser") != parser_digest():
            return {}
        files = data.get("files")
        return files if isinstance(files, dict) else {}

    def get(self, root: Path, path: str, sha1: str) -> tuple[model.IdlFile | None, list[Problem]] | None:
        entry = self.entries.get(path)
        if not isinstance(entry, dict) or entry.get("sha1") != sha1:
            return None
        try:
            parsed = _decode(entry["file"]) if entry["file"] is not None else None
            problems = [Problem(path, *p) for p in entry["problems"]]
        except (KeyError, TypeError, ValueError):
            return None
        if parsed is not None and not isinstance(parsed, model.IdlFile):
            return None
        for inc in parsed.includes if parsed is not None else ():
            if inc.resolved is None or not os.path.isfile(os.path.join(root, inc.resolved)):
                return None
        return parsed, problems

    def put(self, path: str, sha1: str, parsed: model.IdlFile | None, problems: list[Problem]) -> None:
        self.entries[path] = {"sha1": sha1, "file": parsed,  # encoded by save() (json.dumps with _as_json)
                              "problems": [[p.line, p.col, p.path, p.message, p.warning] for p in problems]}
        self.changed = True

    def keep_only(self, paths: set[str]) -> None:
        for gone in set(self.entries) - paths:
            del self.entries[gone]
            self.changed = True

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        # a read-only checkout (or a symlinked dist/) still validates; it parses everything each time
        with contextlib.suppress(OSError, SymlinkedFolder):
            write_text_atomic(self.path, json.dumps({"format": CACHE_FORMAT, "parser": parser_digest(),
                                                     "files": self.entries}, separators=(",", ":"),
                                                    default=_as_json), within=self.within)


def cache_path(settings: Settings) -> Path:
    return settings.dist_path / "cache" / "interfaces.json"


def sha1_of(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha1(fh.read()).hexdigest()
    except OSError:
        return None
