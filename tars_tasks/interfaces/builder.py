"""Turns what the grammar (tars.lark) matched into the model, checking what tars2cpp checks after parsing.

It runs inside lark's LALR parser (as its transformer), so no parse tree is built: each rule's callback
gets the values of its parts and returns a value. ``module_head`` is reduced before the module's body is
read, so user types are qualified with their module as they are seen (an unqualified name means the
current module in TARS, `A::B` means module A). Problems (duplicates, tags out of range, a default that
does not fit its type) are collected with their position rather than raised, so one run reports them all.
"""
from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Union

from lark import Token, Transformer

from tars_tasks.core.errors import Problem
from tars_tasks.interfaces.model import Const, Enum, Field, IdlFile, Include, Interface, Method, Param, Struct

MAX_TAG = 255  # tars2cpp: "struct memeber tag can't beyond 256"
_INTEGER_TYPES = ("byte", "short", "int", "long", "unsigned byte", "unsigned short", "unsigned int")
# what each integer type holds (TARS writes unsigned byte/short/int as the next wider signed type, but a value
# beyond the unsigned range is no value of the declared type)
_RANGES = {"byte": (-2**7, 2**7 - 1), "short": (-2**15, 2**15 - 1), "int": (-2**31, 2**31 - 1),
           "long": (-2**63, 2**63 - 1), "unsigned byte": (0, 2**8 - 1), "unsigned short": (0, 2**16 - 1),
           "unsigned int": (0, 2**32 - 1)}
_VALUE_KINDS = {"int": "an integer", "float": "a number", "string": 'a "string"', "bool": "true or false",
                "name": "an enum value"}


@dataclass(frozen=True)
class Value:
    """A literal or name as written after `=`; ``text`` is normalised (integers in decimal, `::` as `.`)."""

    kind: str  # "int" | "float" | "string" | "bool" | "name"
    text: str
    token: Token

    @property
    def meaning(self) -> str:
        """The text, but an enum value by its own name: the type says which enum (`Color::RED` is `RED`)."""
        return self.text.rsplit(".", 1)[-1] if self.kind == "name" else self.text


@dataclass
class _StructDraft:
    module: str
    name: Token
    fields: tuple[Field, ...]
    key: tuple[str, ...] = ()


@dataclass
class _Key:
    struct: str
    names: list[Token]
    where: Token


@dataclass
class _State:
    path: str
    module: str = ""
    problems: list[Problem] = dataclass_field(default_factory=list)
    seen: dict[tuple[str, str], int] = dataclass_field(default_factory=dict)      # (module, name) -> line
    enum_values: dict[str, dict[str, int]] = dataclass_field(default_factory=dict)  # "Module.Enum" -> members
    type_uses: list[tuple[int, int]] = dataclass_field(default_factory=list)  # where each user type is named


Built = Union[Interface, _StructDraft, Enum, Const, _Key]


class IdlBuilder(Transformer):
    """The transformer handed to lark. Not re-entrant: ``start_file`` resets it; the parser holds a lock."""

    def __init__(self) -> None:
        super().__init__()
        self.state = _State("")

    def start_file(self, path: str) -> None:
        self.state = _State(path)

    def _problem(self, token: Token, message: str) -> None:
        self.state.problems.append(Problem(self.state.path, token.line or 1, token.column or 1, "", message))

    def _claim(self, name: Token, what: str) -> None:
        """A definition's name must be unique in its module (across every block of that module in the file)."""
        key = (self.state.module, str(name))
        first = self.state.seen.get(key)
        if first is not None:
            self._problem(name, f"{what} {name}: name already defined in module {self.state.module} "
                                f"(line {first})")
        else:
            self.state.seen[key] = name.line or 1

    # ---- types -----------------------------------------------------------------------------------------
    def builtin(self, children: list[Token]) -> str:
        return str(children[0])

    def unsigned(self, children: list[Token]) -> str:
        return f"unsigned {children[0]}"

    def vector(self, children: list[str]) -> str:
        return f"vector<{children[0]}>"

    def map(self, children: list[str]) -> str:
        return f"map<{children[0]}, {children[1]}>"

    def scoped_name(self, children: list[Token]) -> list[Token]:
        return [t for t in children if t.type == "NAME"]

    def user(self, children: list[list[Token]]) -> str:
        parts = children[0]
        self.state.type_uses.append((parts[0].line or 1, parts[0].column or 1))
        if len(parts) == 1:
            return f"{self.state.module}.{parts[0]}"
        return ".".join(parts)

    # ---- values ----------------------------------------------------------------------------------------
    def int_value(self, children: list[Token]) -> Value:
        token = children[0]
        text = str(token)
        digits = text.lstrip("+-")
        try:
            if digits[:2] in ("0x", "0X"):
                number = int(digits, 16)
            elif len(digits) > 1 and digits.startswith("0"):
                number = int(digits, 8)  # C: a leading 0 means octal
            else:
                number = int(digits)
        except ValueError:
            self._problem(token, f"'{text}' is not a number (a leading 0 means octal)")
            return Value("int", text, token)
        return Value("int", str(-number if text.startswith("-") else number), token)

    def float_value(self, children: list[Token]) -> Value:
        return Value("float", str(children[0]).rstrip("fF"), children[0])

    def string_value(self, children: list[Token]) -> Value:
        return Value("string", str(children[0]), children[0])

    def bool_value(self, children: list[Token]) -> Value:
        return Value("bool", str(children[0]), children[0])

    def name_value(self, children: list[list[Token]]) -> Value:
        parts = children[0]
        return Value("name", ".".join(parts), parts[0])

    def _check_value(self, type_: str, value: Value, what: str) -> None:
        """tars2cpp's rules for a default or const value (checkConstValue)."""
        kinds = {"bool": ("bool",), "string": ("string",), "float": ("int", "float"), "double": ("int", "float")}
        if type_ in _INTEGER_TYPES:
            allowed: tuple[str, ...] = ("int",)
        elif type_ in kinds:
            allowed = kinds[type_]
        elif type_.startswith(("vector<", "map<")):
            allowed = ()
        elif type_ in self.state.enum_values or tuple(type_.rsplit(".", 1)) in self.state.seen:
            allowed = ("int", "name")  # an enum: a number or one of its values (a struct cannot be checked here)
        else:
            return  # defined in an included file, or nowhere: references.py says so, at the type
        if value.kind not in allowed:
            need = " or ".join(_VALUE_KINDS[k] for k in allowed) if allowed else "no value"
            self._problem(value.token, f"{what}: type {type_} takes {need}, not {value.text}")
        elif value.kind == "int" and type_ in _RANGES and value.text.lstrip("-").isdigit():
            low, high = _RANGES[type_]
            if not low <= int(value.text) <= high:
                self._problem(value.token, f"{what}: {value.text} is out of range for {type_} ({low} to {high})")

    # ---- structs ---------------------------------------------------------------------------------------
    def field(self, children: list[Any]) -> tuple[Field, Token, Token]:
        tag_value: Value = self.int_value([children[0]])
        kind, type_, name = children[1], children[2], children[3]
        default: Value | None = children[4] if len(children) > 4 else None
        tag = int(tag_value.text) if tag_value.text.lstrip("-").isdigit() else -1
        if not 0 <= tag <= MAX_TAG:
            self._problem(children[0], f"field {name}: tag {tag_value.text} is not between 0 and {MAX_TAG}")
        if default is not None:
            self._check_value(type_, default, f"field {name}")
        made = Field(tag=tag, required=str(kind) == "require", type=type_, name=str(name),
                     default=default.meaning if default else None, line=children[0].line or 1)
        return made, name, children[0]

    def struct_def(self, children: list[Any]) -> _StructDraft:
        name: Token = children[0]
        self._claim(name, "struct")
        by_tag: dict[int, str] = {}
        by_name: set[str] = set()
        for made, name_token, tag_token in children[1:]:
            if made.tag in by_tag:
                self._problem(tag_token, f"struct {name}: field {made.name} has tag {made.tag}, "
                                         f"already used by field {by_tag[made.tag]}")
            else:
                by_tag[made.tag] = made.name
            if made.name in by_name:
                self._problem(name_token, f"struct {name}: field name {made.name} used twice")
            by_name.add(made.name)
        return _StructDraft(self.state.module, name, tuple(made for made, _, _ in children[1:]))

    def key_def(self, children: list[Any]) -> _Key:
        parts: list[Token] = children[0]
        return _Key(".".join(parts), children[1:], parts[0])

    # ---- enums -----------------------------------------------------------------------------------------
    def enumerator(self, children: list[Any]) -> tuple[Token, Value | None]:
        return children[0], (children[1] if len(children) > 1 else None)

    def enum_def(self, children: list[Any]) -> Enum:
        name: Token = children[0]
        self._claim(name, "enum")
        members: dict[str, int] = {}
        self.state.enum_values[f"{self.state.module}.{name}"] = members
        following = 0
        for member, value in children[1:]:
            number = following if value is None else self._enum_number(str(name), members, value)
            if str(member) in members:
                self._problem(member, f"enum {name}: value name {member} used twice")
            else:
                members[str(member)] = number
            following = number + 1
        return Enum(self.state.module, str(name), tuple(members.items()), self.state.path, name.line or 1,
                    name.column or 1)

    def _enum_number(self, enum: str, members: dict[str, int], value: Value) -> int:
        """An enum value is a number or an earlier value (`B = A`, `B = Other::A`, `B = M::Other::A`)."""
        if value.kind == "int":
            return int(value.text) if value.text.lstrip("-").isdigit() else 0
        if value.kind == "name":
            *scope, member = value.text.split(".")
            candidates = [members] if not scope else []
            qualified = ".".join(scope) if len(scope) > 1 else f"{self.state.module}.{'.'.join(scope)}"
            candidates += [values for full, values in self.state.enum_values.items()
                           if not scope or full == qualified]
            for values in candidates:
                if member in values:
                    return values[member]
        self._problem(value.token, f"enum {enum}: value {value.text} is not a number or an enum value "
                                   f"defined before it")
        return 0

    # ---- consts ----------------------------------------------------------------------------------------
    def const_def(self, children: list[Any]) -> Const:
        type_, name, value = children
        self._claim(name, "const")
        self._check_value(type_, value, f"const {name}")
        return Const(self.state.module, str(name), type_, value.meaning, self.state.path, name.line or 1,
                     name.column or 1)

    # ---- interfaces ------------------------------------------------------------------------------------
    def param(self, children: list[Any]) -> tuple[Param, Token]:
        kind = str(children[0]) if len(children) == 3 else ""
        type_, name = children[-2], children[-1]
        return Param(str(name), type_, out=kind == "out", routekey=kind == "routekey"), name

    def method(self, children: list[Any]) -> tuple[Method, Token]:
        ret = "void" if isinstance(children[0], Token) else children[0]  # a type is a plain str, VOID a Token
        name: Token = children[1]
        names: set[str] = set()
        for param, token in children[2:]:
            if param.name in names or param.name == str(name):
                self._problem(token, f"method {name}: parameter name {param.name} used twice")
            names.add(param.name)
        params = tuple(param for param, _ in children[2:])
        return Method(str(name), ret, params, name.line or 1), name

    def interface_def(self, children: list[Any]) -> Interface:
        name: Token = children[0]
        self._claim(name, "interface")
        names: set[str] = set()
        for method, token in children[1:]:
            if method.name in names:
                self._problem(token, f"interface {name}: method {method.name} defined twice (TARS has no overloads)")
            names.add(method.name)
        return Interface(self.state.module, str(name), tuple(m for m, _ in children[1:]), self.state.path,
                         name.line or 1, name.column or 1)

    # ---- modules and the file --------------------------------------------------------------------------
    def module_head(self, children: list[Token]) -> Token:
        self.state.module = str(children[0])
        return children[0]

    def module_def(self, children: list[Any]) -> list[Built]:
        built: list[Built] = children[1:]
        structs = {f"{self.state.module}.{b.name}": b for b in built if isinstance(b, _StructDraft)}
        for key in (b for b in built if isinstance(b, _Key)):
            self._apply_key(key, structs)
        return built

    def _apply_key(self, key: _Key, structs: dict[str, _StructDraft]) -> None:
        full = key.struct if "." in key.struct else f"{self.state.module}.{key.struct}"
        struct = structs.get(full)
        if struct is None:
            self._problem(key.where, f"key[{key.struct}, ...]: no struct {key.struct} in this module")
            return
        fields = {f.name for f in struct.fields}
        for name in key.names:
            if str(name) not in fields:
                self._problem(name, f"key[{key.struct}, ...]: struct {key.struct} has no field {name}")
        struct.key = tuple(str(n) for n in key.names)

    def include(self, children: list[Token]) -> Include:
        token = children[0]
        written = str(token).split('"')[1]
        return Include(written, None, token.line or 1, token.column or 1)

    def start(self, children: list[Any]) -> IdlFile:
        includes = tuple(c for c in children if isinstance(c, Include))
        built: list[Built] = [b for c in children if isinstance(c, list) for b in c]
        structs = tuple(Struct(b.module, str(b.name), b.fields, b.key, self.state.path, b.name.line or 1,
                               b.name.column or 1)
                        for b in built if isinstance(b, _StructDraft))
        return IdlFile(self.state.path, includes,
                       tuple(b for b in built if isinstance(b, Interface)), structs,
                       tuple(b for b in built if isinstance(b, Enum)),
                       tuple(b for b in built if isinstance(b, Const)), tuple(self.state.type_uses))
