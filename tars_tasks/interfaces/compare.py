"""Two versions of one TARS definition: what changed, and whether it breaks who was built against the old.

Like `buf breaking` for protobuf, judged by what TARS puts on the wire. A struct's fields travel by tag, so
fields are matched by name and a field whose tag changed is breaking; an optional field equal to its default
is not written (tars2cpp's writeTo), so a changed default of an optional field, and require → optional,
silently change what the other side reads: both breaking. A method's parameters travel by position
(tag = position), so an added, removed, retyped or reordered parameter breaks callers, and so does a changed
`out` direction or return type. Adding a method, an optional field with a tag never used, an enum value, or a
whole definition is compatible; so is renaming a field (the wire has tags, not names), changing `routekey`,
a `key[...]`, a require field's default, or a const (consts are compiled in, never sent).

Parameter names are not compared: the wire has positions, and a client's copy may name them as it likes.
The one exception is a reorder (the same names in another order), which is breaking.

``first_difference(copy, original)`` is the stale-copy check: the first change of either kind, worded as
what ``original`` has that ``copy`` lacks ("method queryResult: parameter 2 added").
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tars_tasks.interfaces.model import Const, Definition, Enum, Field, Interface, Method, Param, Struct

BREAKING = "breaking"
COMPATIBLE = "compatible"

_NUMBERS = ("byte", "short", "int", "long", "float", "double", "unsigned byte", "unsigned short", "unsigned int")
_KIND_WORDS = {Interface: "interface", Struct: "struct", Enum: "enum", Const: "const"}


@dataclass(frozen=True)
class Change:
    kind: str     # "breaking" | "compatible"
    subject: str  # "Test.BServant", "Test.BServant.queryResult", "Test.Foo.b" (a field), "Test.Color.RED"
    message: str  # "method queryResult: parameter 2 added"


def _word(definition: Definition) -> str:
    return _KIND_WORDS[type(definition)]


def changes(old: Definition | None, new: Definition | None) -> list[Change]:
    """What changed from ``old`` to ``new`` (None: not there), in order: the old one's parts first."""
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        return [Change(COMPATIBLE, new.full_name, f"{_word(new)} {new.full_name} added")]
    if new is None:
        return [Change(BREAKING, old.full_name, f"{_word(old)} {old.full_name} removed")]
    if type(old) is not type(new):
        return [Change(BREAKING, new.full_name, f"{old.full_name} was {_article(_word(old))}, "
                                                f"is now {_article(_word(new))}")]
    if old.full_name != new.full_name:
        return [Change(BREAKING, new.full_name, f"{_word(old)} {old.full_name} is named {new.full_name}")]
    if isinstance(old, Interface) and isinstance(new, Interface):
        return list(_interface(old, new))
    if isinstance(old, Struct) and isinstance(new, Struct):
        return list(_struct(old, new))
    if isinstance(old, Enum) and isinstance(new, Enum):
        return list(_enum(old, new))
    assert isinstance(old, Const) and isinstance(new, Const)
    return list(_const(old, new))


def first_difference(a: Definition, b: Definition) -> str | None:
    """None when ``a`` and ``b`` mean the same (comments, formatting, order of methods or fields, and
    parameter names aside); else the first difference, as what ``b`` has that ``a`` does not."""
    found = changes(a, b)
    return found[0].message if found else None


def _article(word: str) -> str:
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


# ---- interfaces ----------------------------------------------------------------------------------------------

def _interface(old: Interface, new: Interface) -> Iterator[Change]:
    after = {m.name: m for m in new.methods}
    before = {m.name: m for m in old.methods}
    for method in old.methods:
        subject = f"{old.full_name}.{method.name}"
        if method.name not in after:
            yield Change(BREAKING, subject, f"method {method.name} removed")
        else:
            yield from (Change(kind, subject, f"method {method.name}: {what}")
                        for kind, what in _method(method, after[method.name]))
    for method in new.methods:
        if method.name not in before:
            yield Change(COMPATIBLE, f"{new.full_name}.{method.name}", f"method {method.name} added")


def _method(old: Method, new: Method) -> Iterator[tuple[str, str]]:
    if old.ret != new.ret:
        yield BREAKING, f"return type {old.ret} changed to {new.ret}"
    old_names, new_names = [p.name for p in old.params], [p.name for p in new.params]
    removed: list[tuple[int, Param]] = []
    added: list[tuple[int, Param]] = []
    if old_names != new_names and sorted(old_names) == sorted(new_names):
        yield BREAKING, f"parameters reordered: ({', '.join(old_names)}) changed to ({', '.join(new_names)})"
        by_name = {p.name: p for p in new.params}
        pairs = [(new_names.index(p.name) + 1, p, by_name[p.name]) for p in old.params]
    else:
        pairs, removed, added = _align(old.params, new.params)
    for position, before, after in pairs:
        yield from _param(position, before, after)
    for position, param in removed:
        yield BREAKING, f"parameter {position} ({_param_text(param)}) removed"
    for position, param in added:
        yield BREAKING, f"parameter {position} ({_param_text(param)}) added"


def _align(old: tuple[Param, ...], new: tuple[Param, ...]
           ) -> tuple[list[tuple[int, Param, Param]], list[tuple[int, Param]], list[tuple[int, Param]]]:
    """(position, old, new) pairs, the removed (old position) and the added (new position). When one list is
    the other with one parameter taken out (by type and direction, as the wire sees them), that parameter is
    the one removed or added; among several that fit, the one leaving the most names in place, then the last.
    Otherwise parameters pair by position and the longer list's tail is removed or added."""
    longer, shorter = (old, new) if len(old) > len(new) else (new, old)
    if len(longer) == len(shorter) + 1:
        def wire(params: Sequence[Param]) -> list[tuple[str, bool]]:
            return [(p.type, p.out) for p in params]
        fits = [i for i in range(len(longer)) if wire(longer[:i] + longer[i + 1:]) == wire(shorter)]
        if fits:
            def names_kept(i: int) -> tuple[int, int]:
                rest = longer[:i] + longer[i + 1:]
                return sum(a.name == b.name for a, b in zip(rest, shorter)), i
            gone = max(fits, key=names_kept)
            rest = longer[:gone] + longer[gone + 1:]
            positions = [p if p < gone else p + 1 for p in range(len(shorter))]  # index in ``longer``
            if longer is old:
                pairs = [(i + 1, rest[i], shorter[i]) for i in range(len(shorter))]
                return pairs, [(gone + 1, longer[gone])], []
            pairs = [(positions[i] + 1, shorter[i], rest[i]) for i in range(len(shorter))]
            return pairs, [], [(gone + 1, longer[gone])]
    pairs = [(i, p, q) for i, (p, q) in enumerate(zip(old, new), start=1)]
    return (pairs, [(i, p) for i, p in enumerate(old[len(new):], start=len(new) + 1)],
            [(i, p) for i, p in enumerate(new[len(old):], start=len(old) + 1)])


def _param(position: int, old: Param, new: Param) -> Iterator[tuple[str, str]]:
    where = f"parameter {position} ({new.name})"
    if old.type != new.type:
        yield BREAKING, f"{where}: type {old.type} changed to {new.type}"
    if old.out != new.out:
        yield BREAKING, f"{where} changed from {_direction(old)} to {_direction(new)}"
    if old.routekey != new.routekey:
        yield COMPATIBLE, f"{where}: routekey {'added' if new.routekey else 'removed'}"


def _direction(param: Param) -> str:
    return "out" if param.out else "in"


def _param_text(param: Param) -> str:
    return " ".join(w for w in ("out" if param.out else "", "routekey" if param.routekey else "", param.type,
                                param.name) if w)


# ---- structs -------------------------------------------------------------------------------------------------

def _struct(old: Struct, new: Struct) -> Iterator[Change]:
    after = {f.name: f for f in new.fields}
    renamed = _renamed(old, new)
    for before in old.fields:
        field = after.get(before.name) or renamed.get(before.name)
        subject = f"{old.full_name}.{before.name}"
        if field is None:
            yield Change(BREAKING, subject, f"field {before.name} (tag {before.tag}) removed")
            continue
        for kind, what in _field(before, field):
            yield Change(kind, subject, f"field {before.name} (tag {before.tag}){what}")
    matched = {f.name for f in old.fields} | {f.name for f in renamed.values()}
    old_tags = {f.tag: f.name for f in old.fields}
    for field in new.fields:
        if field.name in matched:
            continue
        subject, what = f"{new.full_name}.{field.name}", f"field {field.name} (tag {field.tag})"
        if field.tag in old_tags:
            yield Change(BREAKING, subject, f"{what} added with the tag field {old_tags[field.tag]} had")
        elif field.required:
            yield Change(BREAKING, subject, f"{what} added as require: data written before has no such field")
        else:
            yield Change(COMPATIBLE, subject, f"{what} added")
    if old.key != new.key:
        yield Change(COMPATIBLE, old.full_name, f"key[{', '.join(old.key)}] changed to key[{', '.join(new.key)}]")


def _renamed(old: Struct, new: Struct) -> dict[str, Field]:
    """old name -> new field, for a field whose name is gone but whose tag lives on under a name that is new."""
    old_names, new_names = {f.name for f in old.fields}, {f.name for f in new.fields}
    by_tag = {f.tag: f for f in new.fields if f.name not in old_names}
    return {f.name: by_tag[f.tag] for f in old.fields if f.name not in new_names and f.tag in by_tag}


def _field(old: Field, new: Field) -> Iterator[tuple[str, str]]:
    if old.name != new.name:
        yield COMPATIBLE, f" renamed to {new.name}"
    if old.tag != new.tag:
        yield BREAKING, f": tag changed to {new.tag}"
    if old.type != new.type:
        yield BREAKING, f": type {old.type} changed to {new.type}"
    if old.required != new.required:
        yield BREAKING, (": optional changed to require: data written before may not have it" if new.required
                         else ": require changed to optional: a value equal to its default is no longer sent")
    if old.type == new.type and _default(old) != _default(new):
        was, now = old.default or "none", new.default or "none"
        if new.required and old.required:
            yield COMPATIBLE, f": default {was} changed to {now}"
        else:
            yield BREAKING, f": default {was} changed to {now}: an optional field equal to its default is not sent"


def _default(field: Field) -> object:
    """What a reader fills in when the field is absent: written `= 0`, `= 0.0` and none at all are one value."""
    text = field.default
    if field.type == "bool":
        return text or "false"
    if field.type == "string":
        return text or '""'
    return _number(field.type, text or "0") if field.type in _NUMBERS else text


def _number(type_: str, text: str) -> object:
    """A number's value when ``type_`` is numeric (`1.0` is `1.00`), else the text."""
    if type_ in _NUMBERS:
        try:
            return float(text)
        except ValueError:
            pass
    return text


# ---- enums and consts ----------------------------------------------------------------------------------------

def _enum(old: Enum, new: Enum) -> Iterator[Change]:
    after, before = dict(new.members), dict(old.members)
    for name, number in old.members:
        subject = f"{old.full_name}.{name}"
        if name not in after:
            yield Change(BREAKING, subject, f"enum value {name} removed")
        elif after[name] != number:
            yield Change(BREAKING, subject, f"enum value {name}: {number} changed to {after[name]}")
    for name, number in new.members:
        if name not in before:
            yield Change(COMPATIBLE, f"{new.full_name}.{name}", f"enum value {name} = {number} added")


def _const(old: Const, new: Const) -> Iterator[Change]:
    if old.type != new.type:
        yield Change(COMPATIBLE, old.full_name, f"const {old.name}: type {old.type} changed to {new.type}")
    if _number(old.type, old.value) != _number(new.type, new.value):
        yield Change(COMPATIBLE, old.full_name, f"const {old.name}: value {old.value} changed to {new.value}")
