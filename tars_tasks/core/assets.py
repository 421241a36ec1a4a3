"""The tool's own files, shipped inside the package and read with importlib.resources.

- the chart every service is packaged from (`tars_tasks/chart/helm-chart/`; `tars.chart_dir` overrides),
- the values.yaml JSON Schema (`tars_tasks/validate/values.schema.json`; `tars.values_schema` overrides),
- the TarsCloud CRD schemas (`tars_tasks/validate/crds/`; `tars.crds_dir` overrides),
- the Dockerfile templates (`tars_tasks/image/dockerfiles/`).

Everything is a Traversable: a plain directory in a checkout or an installed wheel alike.
"""
from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable


def chart_dir() -> Traversable:
    return resources.files("tars_tasks.chart") / "helm-chart"


def values_schema() -> Traversable:
    return resources.files("tars_tasks.validate") / "values.schema.json"


def crds_dir() -> Traversable:
    return resources.files("tars_tasks.validate") / "crds"


def dockerfiles_dir() -> Traversable:
    return resources.files("tars_tasks.image") / "dockerfiles"


def walk(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """Every file below ``folder`` as (relative posix path, file), sorted, editor leftovers skipped."""
    out: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        rel = f"{prefix}{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                out.extend(walk(entry, rel + "/"))
        elif not entry.name.endswith(("~", ".swp", ".pyc")):
            out.append((rel, entry))
    return out
