"""Is a values file valid against the schema? Answered by checks compiled once from the schema, ~10x faster
than jsonschema walking it for every file.

Almost every file of a large monorepo is valid, and for those jsonschema's walk (a quarter of `validate`) only
confirms it. The schema is compiled into one Python closure per schema node, for the keywords the values
schema uses (type, properties, additionalProperties, required, items, enum, pattern, minimum, maximum,
minLength, maxLength, minItems, uniqueItems and the annotations). The closure says True only when
jsonschema would find no error; when in doubt it says False, and a file it does not pass is checked by
jsonschema (schema.py), which gives the located messages. A schema using any other keyword is not compiled.
"""
from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

_ANNOTATIONS = {"description", "title", "$schema", "$id", "$comment", "examples", "default", "deprecated",
                "readOnly", "writeOnly"}
_KNOWN = _ANNOTATIONS | {"type", "properties", "additionalProperties", "required", "items", "enum", "pattern",
                         "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems"}


class Unsupported(Exception):
    """The schema uses a keyword (or a form of one) these checks do not implement."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# JSON Schema types as jsonschema's draft 2020-12 checker sees them (a float with no fraction is an integer)
_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def compile_schema(schema: Any) -> Check | None:
    """The validity check of ``schema``, or None when it uses what these checks do not implement."""
    try:
        return _compile(schema)
    except (Unsupported, re.error, TypeError, ValueError):
        return None


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict) or set(schema) - _KNOWN:
        raise Unsupported(str(schema)[:80])
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type(schema["type"]))
    checks.extend(_object(schema))
    checks.extend(_array(schema))
    checks.extend(_scalar(schema))
    if not checks:
        return lambda v: True
    return _all_of(checks)


def _all_of(checks: list[Check]) -> Check:
    """One check that passes when every one of ``checks`` does (nested pairs: no generator per value)."""
    if len(checks) == 1:
        return checks[0]
    first, rest = checks[0], _all_of(checks[1:])
    return lambda v: first(v) and rest(v)


def _type(kind: Any) -> Check:
    names = kind if isinstance(kind, list) else [kind]
    if not names or not all(isinstance(n, str) and n in _TYPES for n in names):
        raise Unsupported(f"type {kind!r}")
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        one, two = tests
        return lambda v: one(v) or two(v)
    return lambda v: any(t(v) for t in tests)


def _object(schema: dict) -> list[Check]:
    out: list[Check] = []
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise Unsupported("properties")
    props = {k: _compile(s) for k, s in properties.items()}
    extra = schema.get("additionalProperties", True)
    extra_check = _compile(extra)
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        raise Unsupported("required")
    if props or extra is not True:
        def check_object(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                check = props.get(key) if isinstance(key, str) else None
                if check is None:
                    if not extra_check(value) or not isinstance(key, str):
                        return False  # a key that is no string: jsonschema's own answer, with its message
                elif not check(value):
                    return False
            return True
        out.append(check_object)
    if required:
        out.append(lambda v: not isinstance(v, dict) or all(r in v for r in required))
    return out


def _array(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "items" in schema:
        item = _compile(schema["items"])
        out.append(lambda v: not isinstance(v, list) or all(map(item, v)))
    for key, compare in (("minItems", operator.ge), ("maxItems", operator.le)):
        if key in schema:
            out.append(_bounded(list, len, compare, _count(schema[key])))
    if schema.get("uniqueItems") is True:  # only lists of strings are decided here: equal means ==
        out.append(lambda v: not isinstance(v, list) or (all(isinstance(x, str) for x in v) and len(set(v)) == len(v)))
    elif schema.get("uniqueItems", False) is not False:
        raise Unsupported("uniqueItems")
    return out


def _scalar(schema: dict) -> list[Check]:
    out: list[Check] = []
    if "enum" in schema:
        choices = schema["enum"]
        if not isinstance(choices, list) or not all(c is None or isinstance(c, (str, int, float)) for c in choices):
            raise Unsupported("enum")
        out.append(lambda v: any(_same(v, c) for c in choices))
    if "pattern" in schema:
        rx = re.compile(schema["pattern"])
        out.append(lambda v: not isinstance(v, str) or rx.search(v) is not None)
    for key, compare in (("minLength", operator.ge), ("maxLength", operator.le)):
        if key in schema:
            out.append(_bounded(str, len, compare, _count(schema[key])))
    for key, compare in (("minimum", operator.ge), ("maximum", operator.le)):
        if key in schema:
            limit = schema[key]
            if not _is_number(limit):
                raise Unsupported(key)
            out.append(_bounded((int, float), _number, compare, limit))
    return out


def _number(value: Any) -> Any:
    return value


def _bounded(kind: type | tuple[type, ...], measure: Callable[[Any], Any], compare: Callable[[Any, Any], bool],
             bound: Any) -> Check:
    """Values of ``kind`` (never a boolean) whose ``measure`` compares to ``bound``; other values pass."""
    def check(v: Any) -> bool:
        return not isinstance(v, kind) or isinstance(v, bool) or compare(measure(v), bound)
    return check


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Unsupported(f"count {value!r}")
    return value


def _same(value: Any, choice: Any) -> bool:
    """JSON equality of a scalar and an enum choice: true and 1 differ; 1 and 1.0 do not."""
    if isinstance(value, bool) or isinstance(choice, bool):
        return isinstance(value, bool) and isinstance(choice, bool) and value == choice
    if value is None or choice is None:
        return value is None and choice is None
    if isinstance(value, str) or isinstance(choice, str):
        return isinstance(value, str) and isinstance(choice, str) and value == choice
    return _is_number(value) and value == choice
