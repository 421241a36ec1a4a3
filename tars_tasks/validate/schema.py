"""values.yaml → located problems: JSON Schema first, then the cross-field rules.

Problems are values, not exceptions: every problem in every file is collected in one run.
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tars_tasks.core import assets
from tars_tasks.core.errors import Problem
from tars_tasks.core.files import FEW_SERVICES, FileLister
from tars_tasks.core.graph import dependency_problems
from tars_tasks.core.services import Discovery, Service
from tars_tasks.core.settings import Settings
from tars_tasks.core.yamlfile import describe, short
from tars_tasks.image.spec import build_problems

from . import rules
from .collisions import collision_problems

if TYPE_CHECKING:  # pragma: no cover
    import jsonschema  # imported when a schema is applied: `invoke --list` and `list` never pay for it


@lru_cache(maxsize=4)
def schema(path: str = "") -> dict:
    """The values.yaml JSON Schema: the built-in one, or the file at ``path`` (tars.values_schema)."""
    source = Path(path) if path else assets.values_schema()
    return json.loads(source.read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def valid_check(path: str = "") -> Callable[[Any], bool] | None:
    """The schema compiled into a yes/no check (fastcheck.py), or None when it cannot be."""
    from .fastcheck import compile_schema

    return compile_schema(schema(path))


@lru_cache(maxsize=4)
def validator(path: str = "") -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(schema(path))


_TYPE_NAMES = {"integer": "an integer", "string": "a string", "boolean": "a boolean (true/false)",
               "array": "a list", "object": "a mapping", "number": "a number", "null": "null"}


def _message(error: jsonschema.ValidationError) -> str:
    kind, expected, inst, sch = error.validator, error.validator_value, error.instance, error.schema
    hint = sch.get("description") if isinstance(sch, dict) else None
    if kind == "maximum":
        return f"{inst} is greater than {expected}"
    if kind == "minimum":
        return f"{inst} is less than {expected}"
    if kind == "type":
        # every optional list, map and string also takes null ("not set"): saying so in each message is noise
        types = [str(t) for t in (expected if isinstance(expected, list) else [expected]) if t != "null"] or ["null"]
        return f"expected {' or '.join(_TYPE_NAMES.get(t, t) for t in types)}, got {describe(inst)}"
    if kind == "pattern":
        return f"{short(inst)} is invalid: expected {hint}" if hint else f"{short(inst)} does not match {expected}"
    if kind == "enum" and isinstance(expected, list):
        return f"{short(inst)} is not one of {', '.join(repr(e) for e in expected if e is not None)}"
    if kind == "maxLength":
        return f"{short(inst)} is longer than {expected} characters"
    if kind == "minLength":
        return "must not be empty" if expected == 1 else f"must be at least {expected} characters"
    if kind == "minItems":
        return "must not be an empty list" if expected == 1 else f"needs at least {expected} items"
    if kind == "maxItems":
        return f"has more than {expected} items"
    if kind == "uniqueItems":
        return "has duplicate items"
    return error.message


def _unknown_key_problems(service: Service, error: jsonschema.ValidationError) -> list[Problem]:
    properties = error.schema.get("properties") if isinstance(error.schema, Mapping) else None
    known = list(properties or {})
    instance = error.instance if isinstance(error.instance, dict) else {}
    out = []
    for key in instance:
        if key in known:
            continue
        path = list(error.absolute_path) + [key]
        if not isinstance(key, str):
            out.append(service.problem(path, f"key {key!r} must be a string", key=True))
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if not close:  # try case-insensitively: hostnetwork -> hostNetwork
            lowered = {k.lower(): k for k in known}
            close = [lowered[key.lower()]] if key.lower() in lowered else []
        hint = f"; did you mean {close[0]}?" if close else f" (known: {', '.join(known)})"
        out.append(service.problem(path, f"unknown key{hint}", key=True))
    return out


def schema_problems(service: Service, schema_path: str = "") -> list[Problem]:
    check = valid_check(schema_path)
    if check is not None and check(service.values):
        return []  # valid: jsonschema's walk (and its import) is needed only to say what is wrong
    problems: list[Problem] = []
    for error in validator(schema_path).iter_errors(service.values):
        if error.validator == "additionalProperties":
            problems.extend(_unknown_key_problems(service, error))
        elif error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            for key in missing:
                problems.append(service.problem(list(error.absolute_path), f"missing required key {key!r}"))
        else:
            problems.append(service.problem(list(error.absolute_path), _message(error)))
    return problems


def _non_string_keys(value: Any, path: list) -> Iterable[tuple[list, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                yield path + [k], k
            else:
                yield from _non_string_keys(v, path + [k])
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _non_string_keys(v, path + [i])


def _all_keys_strings(value: Any) -> bool:
    """No mapping in ``value`` has a key that is not a string (the common case, decided without paths)."""
    todo = [value]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                return False
            todo.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            todo.extend(v for v in node if isinstance(v, (dict, list)))
    return True


def service_problems(service: Service, schema_path: str = "") -> list[Problem]:
    """Every problem of one file: schema, then (on well-typed parts) the cross-field rules."""
    bad_keys = [] if _all_keys_strings(service.values) else [
        service.problem(path, f"key {key!r} must be a string", key=True)
        for path, key in _non_string_keys(service.values, [])]
    if bad_keys:
        return bad_keys
    problems = schema_problems(service, schema_path)
    problems.extend(rules.check(service))
    return problems


def validate(discovery: Discovery, settings: Settings | None = None) -> list[Problem]:
    """All problems of all discovered services (including dependency-graph problems), sorted by place."""
    return validate_selected(discovery, discovery.services, settings)


def validate_selected(discovery: Discovery, selected: Iterable[Service],
                      settings: Settings | None = None) -> list[Problem]:
    """The problems of the ``selected`` services' own files (schema, rules, and with ``settings`` their build),
    and the dependency-graph and collision problems among everything discovered (core/index.py: what their
    rules need), sorted by place."""
    problems = list(discovery.problems)
    selected = list(selected)
    # one listing for every service, or of each folder when only a few are checked (`--service X`)
    lister = FileLister(settings.root, few=len(selected) <= FEW_SERVICES) if settings is not None else None
    for service in selected:
        problems.extend(service_problems(service, settings.values_schema if settings else ""))
        if settings is not None:
            problems.extend(build_problems(service, settings, lister))
    problems.extend(dependency_problems(discovery.services, discovery.graph))
    problems.extend(collision_problems(discovery.services, settings))
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.path, p.message))
