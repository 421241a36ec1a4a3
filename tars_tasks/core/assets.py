"""The tool's own files: the chart, the values schema, the CRD schemas and the Dockerfile templates.

In this repository the chart and the schemas live at the top level, as the project was specified:
- `helm-template/`: the chart every service is packaged from (`tars.chart_dir` overrides),
- `schema/values.schema.json`: the values.yaml JSON Schema (`tars.values_schema` overrides),
- `schema/crds/`: the TarsCloud CRD schemas (`tars.crds_dir` overrides),
- `ci/`: the CI pipeline templates `init` writes into a new monorepo (GitLab CI, GitHub Actions).
They are the one copy in git. Building the wheel maps them into the package (`setup.py` copies them to
`tars_tasks/_bundled/`), so an installed tool finds them there; a checkout (or an editable install) has no
`_bundled/` and finds them at the top of the checkout. The Dockerfile templates live in the package
(`tars_tasks/image/dockerfiles/`).

Everything is a Traversable: a plain directory in a checkout or an installed wheel alike.
"""
from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

BUNDLED = "_bundled"  # the folder of the package the wheel build copies helm-template/, schema/ and ci/ into
CHART = "helm-template"
SCHEMA = "schema"
CI = "ci"


def _top(name: str) -> Traversable:
    """``name`` from the wheel's bundled copy, else from the top of the checkout this package sits in."""
    bundled = resources.files("tars_tasks") / BUNDLED / name
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / name


def chart_dir() -> Traversable:
    return _top(CHART)


def schema_dir() -> Traversable:
    """The values schema and, in crds/, the CRD schemas."""
    return _top(SCHEMA)


def values_schema() -> Traversable:
    return schema_dir() / "values.schema.json"


def crds_dir() -> Traversable:
    return schema_dir() / "crds"


def ci_dir() -> Traversable:
    """The CI pipeline templates: gitlab-ci.yml, github-actions.yml."""
    return _top(CI)


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
