"""Refuse hostile YAML before it is built into Python objects: deep nesting, alias bombs, duplicate keys.

values.yaml files come from merge requests. A 468-byte "billion laughs" file (aliases of aliases) expands
to 10^9 nodes in every later walk; 100,000 nested brackets crash libyaml's composer (it recurses in C);
a repeated key silently keeps only the last value. One pass over the parser's events (no recursion, no
objects built) finds all three, with the line and column of the first offending node.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import yaml

MAX_DEPTH = 100  # nested mappings/lists; real values files stay under 10
MAX_ALIAS_NODES = 10_000  # nodes that aliases may add in total (an alias counts as its anchor's size)
MERGE_KEY = "<<"

PathPart = Union[str, int]


class StructureError(Exception):
    """A refused structure: 0-based line and column, the path of the node, a one-line message."""

    def __init__(self, line: int, col: int, path: list[PathPart], message: str):
        self.line, self.col, self.path, self.message = line, col, path, message
        super().__init__(message)


@dataclass
class _Frame:
    mapping: bool
    anchor: str | None
    size: int = 1  # nodes in this collection, aliases expanded
    height: int = 1  # nesting levels in this collection, aliases expanded
    expect_key: bool = True  # mappings: the next node is a key
    key: PathPart = ""  # mappings: the key of the value being read
    index: int = 0  # lists: the index of the next item
    keys: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)  # key -> 0-based line, col


def check(text: str, loader: type) -> None:
    """Raise StructureError for nesting beyond MAX_DEPTH, aliases adding more than MAX_ALIAS_NODES nodes, or
    a key written twice in one mapping. Syntax errors are left to the real load, which locates them."""
    stack: list[_Frame] = []
    sizes: dict[str, tuple[int, int]] = {}  # anchor -> (size, height)
    expanded = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) + 1 > MAX_DEPTH:
                    raise _error(event, stack[:4], f"nested more than {MAX_DEPTH} levels deep")
                _key_event(event, stack)
                stack.append(_Frame(isinstance(event, yaml.MappingStartEvent), event.anchor))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                done = stack.pop()
                if done.anchor:
                    sizes[done.anchor] = (done.size, done.height)
                _add(stack, done.size, done.height)
            elif isinstance(event, yaml.ScalarEvent):
                _key_event(event, stack)
                if event.anchor:
                    sizes[event.anchor] = (1, 0)
                _add(stack, 1, 0)
            elif isinstance(event, yaml.AliasEvent):
                size, height = sizes.get(event.anchor or "", (1, 0))  # unknown/recursive: the load reports it
                expanded += size
                if expanded > MAX_ALIAS_NODES:
                    raise _error(event, stack, f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes "
                                               "(an alias bomb?); write the values out instead")
                if len(stack) + height > MAX_DEPTH:
                    raise _error(event, stack[:4], f"nested more than {MAX_DEPTH} levels deep through an alias")
                _key_event(event, stack)
                _add(stack, size, height)
    except yaml.YAMLError:
        return  # the real load reports syntax errors, located


def _add(stack: list[_Frame], size: int, height: int) -> None:
    """A finished node joins its parent: sizes add up (capped: only 'too many' matters), heights take the max."""
    if not stack:
        return
    parent = stack[-1]
    parent.size = min(parent.size + size, MAX_ALIAS_NODES + 1 + parent.size)
    parent.height = max(parent.height, height + 1)
    if parent.mapping:
        parent.expect_key = not parent.expect_key
    else:
        parent.index += 1


def _key_event(event: Any, stack: list[_Frame]) -> None:
    """When ``event`` starts a key of the innermost mapping, remember it and refuse a repeated one."""
    if not stack or not stack[-1].mapping or not stack[-1].expect_key:
        return
    frame = stack[-1]
    if not isinstance(event, yaml.ScalarEvent):
        frame.key = "?"  # a complex or aliased key: no duplicate check
        return
    frame.key = event.value
    if event.value == MERGE_KEY and event.implicit[0]:
        return
    identity = (event.tag, event.value, event.implicit[0])
    first = frame.keys.get(identity)
    if first is not None:
        raise _error(event, stack, f"duplicate key {event.value!r} (first at line {first[0] + 1}, column "
                                   f"{first[1] + 1}; YAML would silently keep only the last)", key=True)
    mark = event.start_mark
    frame.keys[identity] = (mark.line, mark.column) if mark else (0, 0)


def _path(stack: list[_Frame], key: bool = False) -> list[PathPart]:
    path: list[PathPart] = []
    for i, frame in enumerate(stack):
        if frame.mapping:
            if i < len(stack) - 1 or key or not frame.expect_key:
                path.append(frame.key)
        else:
            path.append(frame.index)
    return path


def _error(event: Any, stack: list[_Frame], message: str, key: bool = False) -> StructureError:
    mark = event.start_mark
    line, col = (mark.line, mark.column) if mark else (0, 0)
    return StructureError(line, col, _path(stack, key), message)
