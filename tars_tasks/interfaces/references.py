"""Every struct or enum a .tars file uses must be defined in it or in a file it includes, as tars2cpp
requires ("'Foo' undefined!"). Checked over the whole set of parsed files, since it crosses includes; a file
with an include that did not resolve (outside the repository, or found by the build's -I path) is skipped:
what it can see is unknown here.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from tars_tasks.core.errors import Problem
from tars_tasks.interfaces.model import Const, IdlFile, Interface, Struct

_TYPE_PARTS = re.compile(r"[<>,\s]+")


def user_types(type_: str) -> list[str]:
    """The structs and enums a normalised type names: "map<string, vector<Test.Foo>>" -> ["Test.Foo"]."""
    return [part for part in _TYPE_PARTS.split(type_) if "." in part]


def undefined_types(files: Mapping[str, IdlFile]) -> list[Problem]:
    """Located problems (at the type's name) for each use of a type that ``files`` (path -> parsed) do not
    define where it is used."""
    problems = []
    for path, parsed in sorted(files.items()):
        visible = _visible(files, path)
        if visible is None:
            continue
        places = iter(parsed.type_uses)  # the builder's positions of the same names, in the same order
        for line, where, type_ in _uses(parsed):
            for name in user_types(type_):
                at_line, col = next(places, (line, 1))
                if name not in visible:
                    problems.append(Problem(path, at_line, col, "", f"{where}: type {name} is not defined in "
                                                                    "this file or a file it includes"))
    return sorted(problems)


def _visible(files: Mapping[str, IdlFile], path: str) -> set[str] | None:
    """Full names of the structs and enums defined in ``path`` and what it includes; None when unknown."""
    names: set[str] = set()
    seen, todo = {path}, [path]
    while todo:
        parsed = files.get(todo.pop())
        if parsed is None:
            return None
        names.update(d.full_name for d in (*parsed.structs, *parsed.enums))
        for include in parsed.includes:
            if include.resolved is None:
                return None
            if include.resolved not in seen:
                seen.add(include.resolved)
                todo.append(include.resolved)
    return names


def _uses(parsed: IdlFile) -> Iterator[tuple[int, str, str]]:
    """(line, what uses it, type) for every type written in the file, in file order."""
    for d in parsed.definitions():
        if isinstance(d, Struct):
            for field in d.fields:
                yield field.line, f"struct {d.name}: field {field.name}", field.type
        elif isinstance(d, Interface):
            for method in d.methods:
                yield method.line, f"method {method.name}", method.ret
                for param in method.params:
                    yield method.line, f"method {method.name}: parameter {param.name}", param.type
        elif isinstance(d, Const):
            yield d.line, f"const {d.name}", d.type
