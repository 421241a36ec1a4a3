"""Rendered manifests: parse helm's multi-document output and check it against the TarsCloud CRD schemas."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

try:
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]


def parse(text: str) -> list[dict]:
    return [d for d in yaml.load_all(text, Loader=SafeLoader) if d]


@lru_cache(maxsize=16)
def _crd_validator(crds_dir: str, kind: str, version: str) -> jsonschema.Draft7Validator | None:
    path = Path(crds_dir) / f"{kind.lower()}.{version}.schema.json"
    if not path.is_file():
        return None
    return jsonschema.Draft7Validator(json.loads(path.read_text(encoding="utf-8")))


def crd_problems(manifests: list[dict], crds_dir: Path) -> list[str]:
    """One message per CRD schema violation: `TServer/name: spec.k8s.hostNetwork: None is not of type 'boolean'`."""
    problems = []
    for doc in manifests:
        kind, api = doc.get("kind", "?"), str(doc.get("apiVersion", ""))
        name = (doc.get("metadata") or {}).get("name", "?")
        version = api.rsplit("/", 1)[-1]
        validator = _crd_validator(str(crds_dir), kind, version)
        if validator is None:
            problems.append(f"{kind}/{name}: no CRD schema for {api} in {crds_dir}")
            continue
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
            where = ".".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{kind}/{name}: {where}: {error.message}")
    return problems
