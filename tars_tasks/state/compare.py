"""The comparison of what this tool deployed (helm's record of the current revision) with what the cluster
has: an object the chart owns that is gone is damage a release repairs (helm recreates it), not a matter of
taste. Used by status (the verdict and the object named), diff (the object shown against nothing) and plan
(the service is redeployed, the reason names the object)."""
from __future__ import annotations

from typing import Any

import yaml

from tars_tasks.operate.records import Record
from tars_tasks.state.live import Cluster, Live

OWNED_KINDS = ("TServer", "TConfig", "TImage")  # what the chart makes and the Live reader lists


def manifest_objects(manifest: str) -> dict[str, dict[str, Any]]:
    """"Kind/name" -> object, for every object of a multi-document manifest."""
    out: dict[str, dict[str, Any]] = {}
    for doc in yaml.safe_load_all(manifest or ""):
        if isinstance(doc, dict) and doc.get("kind"):
            out[f"{doc['kind']}/{(doc.get('metadata') or {}).get('name', '')}"] = doc
    return out


def missing_objects(record: Record | None, live: Live) -> list[str]:
    """"Kind/name" of every object the deployed revision made that the cluster no longer has (deleted by hand),
    [] when the record or the cluster's objects are unknown."""
    if record is None or live.cluster is not Cluster.REACHABLE:
        return []
    out = []
    for key, obj in sorted(manifest_objects(record.manifest).items()):
        have = live.objects(str(obj.get("kind")))
        if have is not None and key.split("/", 1)[1] not in have:
            out.append(key)
    return out
