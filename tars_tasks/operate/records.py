"""helm's release records, read from the cluster in one list call per namespace.

helm keeps each revision of a release in a Secret `sh.helm.release.v1.NAME.vREVISION` (its default storage
driver), labelled owner=helm, name, status, version, plus the release's own labels (helm 4's `--labels`).
Its `release` field is base64 (Kubernetes) of base64 of the gzipped release JSON, which holds the chart's
values, the user-supplied values and the rendered manifest (hooks apart). Reading them all at once is what
lets `status` compare what this tool deployed with what runs without one `helm get` process per service.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass, field
from typing import Any

GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Record:
    """One revision of one release, as helm stored it."""

    name: str
    revision: int
    status: str
    values: dict[str, Any]  # the chart's values.yaml merged with the user-supplied ones
    manifest: str  # the rendered manifest, hooks included
    labels: dict[str, str] = field(default_factory=dict)
    chart: str = ""  # <name>-<version>


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """helm's coalescing of values: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def decode(secret: dict[str, Any]) -> Record | None:
    """The release record in one helm Secret, or None when it is not one (or cannot be read)."""
    meta = secret.get("metadata") or {}
    labels = dict(meta.get("labels") or {})
    raw = (secret.get("data") or {}).get("release")
    if not raw:
        return None
    try:
        data = base64.b64decode(base64.b64decode(raw))
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        rel = json.loads(data)
    except (binascii.Error, ValueError, OSError):
        return None
    chart = rel.get("chart") or {}
    chart_meta = chart.get("metadata") or {}
    hooks = [h.get("manifest") or "" for h in rel.get("hooks") or [] if isinstance(h, dict)]
    manifest = "\n---\n".join([rel.get("manifest") or "", *hooks])
    return Record(str(rel.get("name") or labels.get("name", "")), int(rel.get("version") or labels.get("version") or 0),
                  str((rel.get("info") or {}).get("status") or labels.get("status", "")),
                  merge(chart.get("values") or {}, rel.get("config") or {}), manifest, labels,
                  f"{chart_meta.get('name', '')}-{chart_meta.get('version', '')}")


def latest(secrets: list[dict[str, Any]]) -> dict[str, Record]:
    """release name -> its newest readable record among ``secrets``."""
    out: dict[str, Record] = {}
    for secret in secrets:
        record = decode(secret)
        if record is not None and (record.name not in out or record.revision > out[record.name].revision):
            out[record.name] = record
    return out
