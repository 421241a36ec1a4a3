"""The patch formats of the Kubernetes API: JSON merge patch, JSON patch, and a model of server-side apply."""
from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
APPLY_CBOR = "application/apply-patch+cbor"


class PatchError(ValueError):
    """A patch that cannot be applied (a 422/400 for the client)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch; null deletes a key, lists are replaced whole.

    Strategic merge patch is served the same way: this fake knows no patch-merge keys.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError) as e:
            raise PatchError(f"path not found: /{'/'.join(parts)}") from e
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    try:
        return parent[int(parts[-1])] if isinstance(parent, list) else parent[parts[-1]]
    except (KeyError, IndexError, ValueError) as e:
        raise PatchError(f"path not found: /{'/'.join(parts)}") from e


def _remove(doc: Any, parts: list[str]) -> Any:
    value = _get(doc, parts)
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        del parent[int(parts[-1])]
    else:
        del parent[parts[-1]]
    return value


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    if isinstance(parent, list):
        index = len(parent) if parts[-1] == "-" else int(parts[-1])
        if index > len(parent):
            raise PatchError("list index out of range")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        raise PatchError(f"cannot add below a scalar at /{'/'.join(parts)}")
    return doc


def json_patch(target: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    doc = copy.deepcopy(target)
    if not isinstance(operations, list):
        raise PatchError("a JSON patch is a list of operations")
    for op in operations:
        kind, parts = op.get("op"), _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op.get("value"):
                raise PatchError(f"test failed at {op.get('path')}")
        else:
            raise PatchError(f"unknown JSON patch operation {kind!r}")
    return doc


def _prune(target: dict[str, Any], previous: dict[str, Any], applied: dict[str, Any]) -> None:
    """Remove from ``target`` the map keys that ``previous`` set and ``applied`` no longer does."""
    for key, old in previous.items():
        if key not in applied:
            target.pop(key, None)
        elif isinstance(old, dict) and isinstance(applied[key], dict) and isinstance(target.get(key), dict):
            _prune(target[key], old, applied[key])


def _merge(target: Any, applied: Any) -> Any:
    if not (isinstance(target, dict) and isinstance(applied, dict)):
        return copy.deepcopy(applied)
    out = dict(target)
    for key, value in applied.items():
        out[key] = _merge(out.get(key), value)
    return out


def server_side_apply(live: dict[str, Any] | None, applied: dict[str, Any],
                      previous: dict[str, Any] | None) -> dict[str, Any]:
    """A model of server-side apply for one field manager.

    The applied configuration is merged into the live object (maps merge, lists are replaced: this fake has no
    list-map keys), after removing the fields the same manager applied last time and applies no more. Field
    ownership conflicts between managers are not modelled.
    """
    out = copy.deepcopy(live) if live else {}
    if previous:
        _prune(out, previous, applied)
    return _merge(out, applied)
