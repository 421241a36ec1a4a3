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


def person_edits(record: Record | None, tserver: dict[str, Any] | None) -> list[str]:
    """How the live TServer differs from what this tool deployed (helm's values of the deployed revision) in what
    people change from the TARS web console: the release it runs (id, image) and its replicas."""
    if record is None or record.status != "deployed" or tserver is None:
        return []
    spec = tserver.get("spec") or {}
    k8s, release = spec.get("k8s") or {}, spec.get("release") or {}
    repo = record.values.get("repo") or {}
    out = []
    live_id, live_image = str(release.get("id") or ""), str(release.get("image") or "")
    if repo.get("id") is not None and str(repo["id"]) != live_id:
        out.append(f"release id {live_id or '(none)'} in the cluster, {repo['id']} deployed by tars-tasks")
    if repo.get("image") and repo["image"] != live_image:
        out.append(f"image {live_image or '(none)'} in the cluster, {repo['image']} deployed by tars-tasks")
    declared, live = _int(record.values.get("replicas", 1)), _int(k8s.get("replicas"))
    if not k8s.get("daemonSet") and live is not None and declared is not None and live != declared:
        out.append(f"replicas {live} live, {declared} declared")
    return out


def _int(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None
