"""Parse TARS interface files (.tars) into the model, with located errors, and resolve their #includes.

The grammar is tars.lark (tars2cpp's grammar) run by lark's LALR parser with the builder as its
transformer: one pass, no parse tree, fast enough for thousands of files. A syntax error becomes
`path:line:col: unexpected 'x', expected one of ...`; what tars2cpp checks after parsing (duplicate
names and tags, values that do not fit) comes from the builder, every problem of a file at once.
"""
from __future__ import annotations

import os
import posixpath
import threading
from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from tars_tasks.core.errors import InputError, Problem
from tars_tasks.interfaces.builder import IdlBuilder
from tars_tasks.interfaces.lexer import TarsLexer
from tars_tasks.interfaces.model import IdlFile, Include
from tars_tasks.interfaces.sources import tracked_files

IDL_SUFFIX = ".tars"

# how a terminal is named in "expected one of ..." when it is a pattern rather than a word
_TERMINAL_NAMES = {"NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": 'a "string"',
                   "INCLUDE": '#include "file"', "$END": "end of file"}
_MAX_EXPECTED = 8


class _Parser:
    """The lark parser and its transformer, built once per process; parses one text at a time."""

    def __init__(self) -> None:
        grammar = resources.files("tars_tasks.interfaces").joinpath("tars.lark").read_text(encoding="utf-8")
        self.builder = IdlBuilder()
        self.lark = Lark(grammar, parser="lalr", lexer=TarsLexer, transformer=self.builder)
        self.lock = threading.Lock()
        self.words = {t.name: t.pattern.value for t in self.lark.terminals if t.pattern.type == "str"}

    def parse(self, text: str, path: str) -> IdlFile:
        with self.lock:
            self.builder.start_file(path)
            try:
                parsed = self.lark.parse(text)
            except UnexpectedInput as exc:
                raise InputError([self._syntax_problem(exc, text, path)]) from None
            problems = self.builder.state.problems
        if problems:
            raise InputError(sorted(problems))
        assert isinstance(parsed, IdlFile)  # the builder's `start` made it
        return parsed

    def _syntax_problem(self, exc: UnexpectedInput, text: str, path: str) -> Problem:
        line, col = max(exc.line, 1), max(exc.column, 1)
        if isinstance(exc, UnexpectedCharacters):
            rest = text[exc.pos_in_stream:]
            if rest.startswith("/*"):
                return Problem(path, line, col, "", "comment not closed: '/*' without '*/'")
            if rest.startswith('"'):
                return Problem(path, line, col, "", "string not closed before the end of the line")
            what = f"unexpected character {exc.char!r}"
            expected: set[str] = set(exc.allowed or ())
        elif isinstance(exc, UnexpectedToken):
            token: Token = exc.token
            what = f"unexpected {_shown(str(token))}"
            expected = set(exc.accepts or exc.expected)
            if token.type == "$END":  # lark puts it at the last token; the end is where it is missing
                what, line, col = "unexpected end of file", text.count("\n") + 1, len(text) - text.rfind("\n")
        else:
            what, expected = "unexpected end of file", set(getattr(exc, "expected", ()) or ())
        return Problem(path, line, col, "", what + self._expected(expected))

    def _expected(self, names: set[str]) -> str:
        shown = sorted({f"'{self.words[n]}'" if n in self.words else _TERMINAL_NAMES.get(n, n) for n in names})
        if not shown:
            return ""
        more = f" (and {len(shown) - _MAX_EXPECTED} more)" if len(shown) > _MAX_EXPECTED else ""
        return f", expected {'one of ' if len(shown) > 1 else ''}{', '.join(shown[:_MAX_EXPECTED])}{more}"


def _shown(value: str) -> str:
    return repr(value if len(value) <= 30 else value[:27] + "...")


@lru_cache(maxsize=1)
def _parser() -> _Parser:
    return _Parser()


def parse_text(text: str, path: str) -> IdlFile:
    """The model of one .tars file; ``path`` (repo-relative) locates problems. Raises InputError.

    Includes come back as written, ``resolved`` set only by ``parse_files`` (which knows the repository).
    """
    return _parser().parse(text, path)


def parse_files(root: Path, paths: Iterable[str]) -> tuple[list[IdlFile], list[Problem]]:
    """Parse repo-relative ``paths`` under ``root``; a file with problems is left out of the result.

    Each `#include` is resolved relative to the including file. One that leaves the repository (an
    absolute path like /usr/local/tars/cpp/include/servant/EndpointF.tars, or ../ above the root, or a
    symlink out) or names no file is a warning: the copy it names cannot be checked, the build still works.
    """
    files: list[IdlFile] = []
    problems: list[Problem] = []
    resolver = _Includes(root)
    by_text: dict[str, IdlFile] = {}  # clients keep byte-identical copies: parse each text once
    for path in paths:
        try:
            text = (root / path).read_bytes().decode("utf-8", "replace")
        except OSError as exc:
            problems.append(Problem(path, 1, 1, "", f"cannot read: {exc.strerror or exc}"))
            continue
        try:
            parsed = _moved(by_text[text], path) if text in by_text else parse_text(text, path)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        by_text.setdefault(text, parsed)
        includes = []
        for include in parsed.includes:
            resolved, warning = resolver.resolve(path, include)
            if warning:
                problems.append(Problem(path, include.line, include.col, "", warning, warning=True))
            includes.append(replace(include, resolved=resolved))
        files.append(replace(parsed, includes=tuple(includes)))
    return files, problems


def _moved(parsed: IdlFile, path: str) -> IdlFile:
    """The model of the same text at another path."""
    return IdlFile(path, parsed.includes,
                   tuple(replace(d, file=path) for d in parsed.interfaces),
                   tuple(replace(d, file=path) for d in parsed.structs),
                   tuple(replace(d, file=path) for d in parsed.enums),
                   tuple(replace(d, file=path) for d in parsed.consts), parsed.type_uses)


class _Includes:
    """Resolves `#include`s inside the repository; remembers each folder's real path (symlinks followed)."""

    def __init__(self, root: Path):
        self.top = os.path.realpath(root)
        self.real_dirs: dict[str, str] = {}

    def resolve(self, path: str, include: Include) -> tuple[str | None, str | None]:
        """(repo-relative path, None) or (None, warning)."""
        quoted = f'#include "{include.written}"'
        outside = f"{quoted} is outside the monorepo: its definitions are not checked"
        if posixpath.isabs(include.written) or os.path.isabs(include.written):
            return None, outside
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), include.written))
        if joined == ".." or joined.startswith("../"):
            return None, outside
        folder, name = posixpath.split(joined)
        if folder not in self.real_dirs:
            self.real_dirs[folder] = os.path.realpath(os.path.join(self.top, folder))
        real = os.path.join(self.real_dirs[folder], name)
        if os.path.islink(real):
            real = os.path.realpath(real)
        if not real.startswith(self.top + os.sep):
            return None, outside
        if not os.path.isfile(real):
            return None, f"{quoted}: no such file {joined}"
        return joined, None


def tracked_idl_files(root: Path, under: str = ".") -> list[str]:
    """The .tars files git tracks at or below ``under`` (paths relative to ``root``, sorted); every .tars
    file found by a walk when ``root`` is not in a git work tree.

    ``under`` (e.g. the services folder) keeps out .tars files that belong to no service, such as test data.
    """
    return [f for f in tracked_files(root, under or ".") if f.endswith(IDL_SUFFIX) and (root / f).is_file()]
