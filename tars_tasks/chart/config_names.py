"""The names of a service's TConfig versions: one per config / nodeConfig / appConfig entry and content.

A TConfig is one version of a config file (deploy/configs.py): its name must change exactly when its content
does. The content may hold secrets (`${secret:NAME}`, resolved at deploy time), and a name is shown in `diff`
and in any TConfig list, so the name never digests a secret's value: it digests the content as written (with
the references) and, for each secret the content references, that secret's keyed hash (core/secrets.py: the
HMAC the chart version uses, keyed by the environment and the age identity). Rotating a secret gives the
configs that use it a new version, and a name cannot be checked against a guessed secret without the key.

The chart reads the result from `tarsTasks.configs` ("<kind>|<configName>|<podSeq>" -> 12 hex digits).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from typing import Any

from tars_tasks.core.secrets import refs

KINDS = (("config", "config"), ("node", "nodeConfig"), ("app", "appConfig"))  # chart kind, values key


def entries(values: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """(kind, configName, podSeq, content) of every config entry of chart values."""
    for kind, field in KINDS:
        for item in values.get(field) or []:
            if isinstance(item, dict):
                pod_seq = str(item.get("podSeq")) if kind == "node" else "m"
                yield kind, str(item.get("name", "")), pod_seq, item.get("content")


def config_names(values: Mapping[str, Any], secret_hashes: Mapping[str, str]) -> dict[str, str]:
    """"<kind>|<configName>|<podSeq>" -> the 12-hex version hash of that entry's content."""
    out: dict[str, str] = {}
    for kind, name, pod_seq, content in entries(values):
        key = f"{kind}|{name}|{pod_seq}"
        text = content if isinstance(content, str) else json.dumps(content)
        used = sorted({secret for _, secret in refs(text)})
        blob = json.dumps([key, text, [[secret, secret_hashes.get(secret, "")] for secret in used]])
        out[key] = hashlib.sha256(blob.encode()).hexdigest()[:12]
    return out


def rendered(values: Mapping[str, Any], release: str, namespace: str) -> list[dict[str, Any]]:
    """The TConfig objects helm-template/templates/tconfig.yaml renders from chart ``values`` (those of a deployed
    revision, `helm get values --all`): a rollback re-creates the versions of that revision from them, as the
    versions are not part of the helm release. tests/unit/test_charts.py holds the two renderings equal."""
    names = dict((values.get("tarsTasks") or {}).get("configs") or {})
    api = (values.get("tarsTasks") or {}).get("apiVersion") or "k8s.tars.io/v1beta3"
    base = f"{str(values.get('app', '')).lower()}-{str(values.get('server', '')).lower()}"
    out = []
    for kind, name, pod_seq, content in entries(values):
        key = f"{kind}|{name}|{pod_seq}"
        text = content if isinstance(content, str) else json.dumps(content)
        digest = names.get(key) or hashlib.sha256(f"{key}|{text}".encode()).hexdigest()[:12]
        out.append({"apiVersion": api, "kind": "TConfig",
                    "metadata": {"name": f"{base}-{kind[0]}-{digest}", "namespace": namespace,
                                 "labels": {"app.kubernetes.io/managed-by": "Helm",
                                            "app.kubernetes.io/part-of": "tars-tasks",
                                            "tars-tasks.io/release": release, "tars.io/ConfigKind": kind},
                                 "annotations": {"tars-tasks.io/config-name": name,
                                                 "helm.sh/resource-policy": "keep"}},
                    "app": values.get("app"), "server": "" if kind == "app" else str(values.get("server", "")),
                    "configName": name, "configContent": text, "podSeq": pod_seq, "activated": True})
    return out
