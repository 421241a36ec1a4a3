"""Rendered manifests: parse helm's multi-document output and check it against the TarsCloud CRD schemas.

The schemas live in schema/crds/ (see its README; the wheel ships them); `tars.crds_dir` points at
another folder of `<kind>.<version>.schema.json` files.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

from tars_tasks.core import assets

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]


def parse(text: str) -> list[dict]:
    return [d for d in yaml.load_all(text, Loader=SafeLoader) if d]


@lru_cache(maxsize=32)
def _crd_validator(crds_dir: str, kind: str, version: str) -> jsonschema.Draft7Validator | None:
    folder = Path(crds_dir) if crds_dir else assets.crds_dir()
    path = folder / f"{kind.lower()}.{version}.schema.json"
    if not path.is_file():
        return None
    return jsonschema.Draft7Validator(json.loads(path.read_text(encoding="utf-8")))


def crd_problems(manifests: list[dict], crds_dir: Path | None = None) -> list[str]:
    """One message per CRD schema violation: `TServer/name: spec.k8s.hostNetwork: None is not of type 'boolean'`."""
    problems = []
    for doc in manifests:
        kind, api = doc.get("kind", "?"), str(doc.get("apiVersion", ""))
        name = (doc.get("metadata") or {}).get("name", "?")
        version = api.rsplit("/", 1)[-1]
        validator = _crd_validator(str(crds_dir) if crds_dir else "", kind, version)
        if validator is None:
            where = crds_dir or "the built-in CRD schemas"
            problems.append(f"{kind}/{name}: no CRD schema for {api} in {where}")
            continue
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            at = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{kind}/{name}: {at}: {error.message}")
    return problems
