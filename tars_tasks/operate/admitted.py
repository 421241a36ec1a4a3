"""What K8SFramework's mutating webhook (v1beta3 TServer) sets on a TServer our chart renders otherwise, so that
`diff` does not show the framework's own writes as drift of the live TServer.

The webhook, on every create and update (upstream `src/WebhookServer/webhook/mutating/tars/v1beta3/tserver.go`;
tests/fakes/cluster/webhooks.py ports it), sets:

| field | set to | shown by `diff` |
|---|---|---|
| `spec.k8s.notStacked` | true with `hostPorts` or `hostIPC` (two pods on a node would clash) | the webhook's value |
| `spec.k8s.readinessGates` | `tars.io/active` first (tars servers) | not rendered by the chart: never compared |
| `spec.release.time`, `nodeImage`, `nodeSecret` | now; the framework's node image | not rendered: never compared |
| labels `tars.io/ServerApp`, `ServerName`, `SubType`, `Template`, `ServerID` | from the spec | not compared |

Only `notStacked` is rendered by the chart (false by default), so it is the one field given the webhook's value
here; replicas are clamped only by annotations the chart does not write.
"""
from __future__ import annotations

import copy
from typing import Any


def as_admitted(spec: Any) -> Any:
    """A rendered TServer ``spec`` with the fields the framework's webhook sets given the values it sets."""
    if not isinstance(spec, dict) or not isinstance(spec.get("k8s"), dict):
        return spec
    k8s = spec["k8s"]
    if (k8s.get("hostPorts") or k8s.get("hostIPC")) and "notStacked" in k8s:
        spec = copy.deepcopy(spec)
        spec["k8s"]["notStacked"] = True
    return spec
