"""Per-environment values: `environments/<env>.yaml` (every service) then `values.<env>.yaml` (one service),
merged over a service's values.yaml.

Merge rules: maps merge key by key; the lists of named items (`servants`, `config`, `appConfig`, `nodeConfig`,
`mounts`, `envVars` by `name`, `hostPorts` by `nameRef`) merge item by item on that key, new items appended;
every other list and every scalar is replaced; `null` removes the key.

Each merged value remembers which file supplied it (an `Origin` tree, built only where an overlay changed
something), so a problem in the merged values is located in the overlay or base file that wrote the value.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tars_tasks.core.errors import Problem
from tars_tasks.core.yamlfile import Locator, PathPart

NAMED_LISTS = {"servants": "name", "config": "name", "appConfig": "name", "nodeConfig": "name",
               "mounts": "name", "envVars": "name", "hostPorts": "nameRef"}
SHARED_KEYS = ("app", "server", "build")  # identity and image: the same in every environment
OVERLAY_FILE = re.compile(r"^values\.([^./]+)\.ya?ml$")
ENV_DIR = "environments"


@dataclass
class Layer:
    """One file that supplied values: how messages name it, and its text for locating values in it."""

    display: str
    text: str = field(repr=False)
    _locator: Locator | None = field(default=None, repr=False)

    @property
    def locator(self) -> Locator:
        if self._locator is None:
            self._locator = Locator(self.text)
        return self._locator

    def find(self, path: Sequence[PathPart], key: bool = False) -> tuple[int, int]:
        return self.locator.find(path, key=key)


@dataclass
class Origin:
    """Where a merged value came from: layer index and path in that layer. ``children`` holds only the parts
    that came from elsewhere; any other child came from this layer, at this path plus its key or index."""

    layer: int
    path: tuple[PathPart, ...]
    children: dict[PathPart, Origin] = field(default_factory=dict)

    def child(self, part: PathPart) -> Origin:
        found = self.children.get(part)
        return found if found is not None else Origin(self.layer, (*self.path, part))

    def locate(self, path: Sequence[PathPart]) -> tuple[int, tuple[PathPart, ...]]:
        """(layer, path in that layer) of the value at ``path`` of the merged values."""
        node = self
        for part in path:
            node = node.child(part)
        return node.layer, node.path


def merge(base: Any, origin: Origin, over: Any, layer: int, path: tuple[PathPart, ...],
          list_key: str | None = None) -> tuple[Any, Origin]:
    """``over`` (from ``layer``, at ``path``) merged over ``base`` (whose origin is ``origin``)."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        node = replace(origin, children=dict(origin.children))
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
                node.children.pop(key, None)
            elif key in out:
                out[key], node.children[key] = merge(out[key], node.child(key), value, layer, (*path, key),
                                                     NAMED_LISTS.get(key) if isinstance(key, str) else None)
            else:
                out[key], node.children[key] = value, Origin(layer, (*path, key))
        return out, node
    if list_key and isinstance(base, list) and isinstance(over, list):
        return _merge_named(base, origin, over, layer, path, list_key)
    return over, Origin(layer, path)


def _merge_named(base: list, origin: Origin, over: list, layer: int, path: tuple[PathPart, ...],
                 key: str) -> tuple[list, Origin]:
    out = list(base)
    node = replace(origin, children=dict(origin.children))
    index = {item[key]: i for i, item in enumerate(base) if _named(item, key)}
    for j, item in enumerate(over):
        i = index.get(item[key]) if _named(item, key) else None
        if i is None:
            node.children[len(out)] = Origin(layer, (*path, j))
            out.append(item)
        else:
            out[i], node.children[i] = merge(out[i], node.child(i), item, layer, (*path, j))
    return out, node


def _named(item: Any, key: str) -> bool:
    return isinstance(item, dict) and isinstance(item.get(key), (str, int))


def merge_layers(layers: Sequence[dict]) -> tuple[dict, Origin]:
    """Every layer merged over the first (layer 0: values.yaml), and where each value came from."""
    values, origin = layers[0], Origin(0, ())
    for n, over in enumerate(layers[1:], start=1):
        values, origin = merge(values, origin, over, n, ())
    return values, origin


def shared_key_problems(over: dict, layer: Layer) -> list[Problem]:
    """An overlay may not change a service's identity or its image: both are the same in every environment."""
    out = []
    for key in SHARED_KEYS:
        if key in over:
            line, col = layer.find([key], key=True)
            out.append(Problem(layer.display, line, col, key,
                               "cannot be set per environment (a service's identity and image are shared)"))
    return out


def overlay_env(path: Path) -> str | None:
    """The environment a `values.<env>.yaml` file is for, or None for any other file."""
    m = OVERLAY_FILE.match(path.name)
    return m.group(1) if m else None
