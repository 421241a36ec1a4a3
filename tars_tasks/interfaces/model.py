"""What a parsed .tars file says, as plain frozen values.

Types are kept as normalised text ("vector<string>", "map<string, Test.Foo>") so two definitions compare with
``==`` and a message can quote a type as a user would write it. ``line``/``col`` are 1-based; ``file`` is the
repo-relative posix path of the .tars file the definition came from.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class _Named:
    """A definition's place: TARS names it `Module::Name`, written here as "Module.Name"."""

    module: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    out: bool
    routekey: bool


@dataclass(frozen=True)
class Method:
    name: str
    ret: str
    params: tuple[Param, ...]
    line: int


@dataclass(frozen=True)
class Field:
    tag: int
    required: bool
    type: str
    name: str
    default: str | None
    line: int


@dataclass(frozen=True)
class Interface(_Named):
    methods: tuple[Method, ...]
    file: str
    line: int
    col: int = 1  # of the name


@dataclass(frozen=True)
class Struct(_Named):
    fields: tuple[Field, ...]
    key: tuple[str, ...]
    file: str
    line: int
    col: int = 1  # of the name


@dataclass(frozen=True)
class Enum(_Named):
    members: tuple[tuple[str, int], ...]
    file: str
    line: int
    col: int = 1  # of the name


@dataclass(frozen=True)
class Const(_Named):
    type: str
    value: str
    file: str
    line: int
    col: int = 1  # of the name


Definition = Union[Interface, Struct, Enum, Const]


@dataclass(frozen=True)
class Include:
    written: str          # as in `#include "../X/Y.tars"`
    resolved: str | None  # repo-relative path; None when outside the repository or missing
    line: int
    col: int = 1


@dataclass(frozen=True)
class IdlFile:
    path: str
    includes: tuple[Include, ...]
    interfaces: tuple[Interface, ...]
    structs: tuple[Struct, ...]
    enums: tuple[Enum, ...]
    consts: tuple[Const, ...]
    type_uses: tuple[tuple[int, int], ...] = ()  # (line, col) of each struct or enum type named, in file order

    def definitions(self) -> Iterator[Definition]:
        """Every definition, in file order."""
        every: list[Definition] = [*self.interfaces, *self.structs, *self.enums, *self.consts]
        return iter(sorted(every, key=lambda d: (d.line, d.col)))
