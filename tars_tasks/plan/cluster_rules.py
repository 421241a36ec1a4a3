"""The framework's admission rules that depend on what the namespace holds, checked when a release is planned
(before anything is built or applied), with errors located in values.yaml:

- `template` must name a TTemplate of the namespace (K8SFramework's webhook refuses a TServer whose template
  does not exist; the framework ships tars.default, tars.cpp, tars.java, tars.nodejs, tars.php, tars.es, teams
  add their own): one list of the namespace's TTemplates, whatever the number of services;
- a deployed TServer's `app`, `server` (their case: the name is their lower case) and `subType` cannot change
  (the webhook refuses the update): that needs the TServer deleted and created again, which `--replace` does
  (the service is uninstalled, its configs removed, then installed: its pods restart). One list of TServers.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.deploy.kube import Kube

IMMUTABLE = (("app", "app"), ("server", "server"), ("subtype", "subType"))  # values key, TServer spec key


@dataclass
class ClusterFindings:
    problems: list[Problem] = field(default_factory=list)
    replace: dict[str, str] = field(default_factory=dict)  # service id -> what --replace changes


def wanted_subtype(service: Service) -> str:
    return str(service.values.get("subtype") or "tars")


def check(services: Sequence[Service], namespace: str, kube: Kube, replace: bool) -> ClusterFindings:
    """Problems of ``services`` against the namespace's TTemplates and TServers; with ``replace``, the
    immutable changes become replacements instead."""
    found = ClusterFindings()
    tars = [s for s in services if wanted_subtype(s) == "tars"]
    if tars:
        templates = sorted(str((t.get("metadata") or {}).get("name", ""))
                           for t in kube.list_tars(namespace, "TTemplate"))
        for s in tars:
            template = s.values.get("template")
            if isinstance(template, str) and template not in templates:
                has = f"it has: {', '.join(templates)}" if templates else \
                    "it has none: is K8SFramework installed there?"
                found.problems.append(s.problem(["template"], f"{template!r} is no TTemplate in namespace {namespace} "
                                                              f"({has})"))
    live = {str((t.get("metadata") or {}).get("name", "")): t.get("spec") or {}
            for t in kube.list_tars(namespace, "TServer")}
    for s in services:
        spec = live.get(s.name)
        if spec is None:
            continue
        mine = {"app": s.app, "server": s.server, "subtype": wanted_subtype(s)}
        changed = [(key, spec_key) for key, spec_key in IMMUTABLE if str(spec.get(spec_key, "")) != mine[key]]
        if not changed:
            continue
        what = ", ".join(f"{spec_key} {spec.get(spec_key)!r} -> {mine[key]!r}" for key, spec_key in changed)
        if replace:
            found.replace[s.id] = what
            continue
        for key, spec_key in changed:
            found.problems.append(s.problem([key] if key in s.values else [], (
                f"the deployed TServer {s.name} has {spec_key} {spec.get(spec_key)!r}, this is {mine[key]!r}: the "
                "framework cannot change it; it needs the TServer deleted and created again (release or deploy "
                "with --replace does that, plan --replace shows it; its pods restart)")))
    return found
