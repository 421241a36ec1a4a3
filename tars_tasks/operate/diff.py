"""`diff`: for each service that would change, a unified diff of what runs against what a release would apply.

- "What runs" is helm's stored manifest of the deployed revision (hooks included), read with the release
  records `status` reads (operate/records.py), and the activated version of each of the service's configs
  (TConfig versions are kept apart from the helm release, deploy/configs.py; deactivated versions are
  history); for a drifted server, also the live TServer against that manifest (only the fields it sets, with
  the values the framework's mutating webhook gives some of them: operate/admitted.py).
- "What a release would apply" is `helm template --dry-run=server` of the chart the release would package:
  the chart's lookups see the cluster, as during the upgrade (kept replicas, the TImage's earlier releases).
  The TImage release record a deploy adds (who/when/why, deploy/records.py) is made at deploy time and is
  not rendered here: a new release's entry shows without createPerson/createTime/mark.
- The local side gets the resolved secrets the way a deploy gives them (helm's stdin), so a `!secret` value
  renders as what the deploy wrote (the same TConfig name), not as its reference.
- Both sides are normalised (one YAML document per object, keys sorted, ordered by kind and name), masked
  (operate/mask.py) and redacted by value (every resolved secret, core/redact.py: what the deployed side holds
  is the secret itself) before they are compared. A diff that is empty only because masked values changed
  says so.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import yaml

from tars_tasks.chart.package import package, secret_values
from tars_tasks.core.helm import Helm
from tars_tasks.core.redact import redact_data
from tars_tasks.deploy.kube import Kube
from tars_tasks.operate.admitted import as_admitted
from tars_tasks.operate.mask import mask_object
from tars_tasks.project import Project
from tars_tasks.state.compare import IN_SYNC, ServiceState, judge_service, manifest_objects, missing_objects
from tars_tasks.state.desired import desired
from tars_tasks.state.live import Live, read_live


@dataclass
class ServiceDiff:
    id: str
    verdict: str
    text: str  # the unified diff, masked ("" when nothing differs)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "verdict": self.verdict, "diff": self.text, "notes": self.notes}


def normal(objs: dict[str, dict[str, Any]], masked: bool = True) -> list[str]:
    """Lines to compare: each object under a `# Kind/name` header, keys sorted."""
    lines: list[str] = []
    for key in sorted(objs):
        obj = redact_data(mask_object(objs[key])) if masked else objs[key]
        lines += [f"# {key}\n", *yaml.safe_dump(obj, sort_keys=True, default_flow_style=False).splitlines(True)]
    return lines


def project_onto(live: Any, declared: Any) -> Any:
    """The part of ``live`` that ``declared`` sets (maps: declared keys only; lists and scalars: live as is)."""
    if isinstance(live, dict) and isinstance(declared, dict):
        return {k: project_onto(live.get(k), v) for k, v in declared.items()}
    return live


def unified(old: list[str], new: list[str], old_name: str, new_name: str) -> str:
    return "".join(difflib.unified_diff(old, new, old_name, new_name))


CONFIG_FIELDS = ("apiVersion", "kind", "app", "server", "configName", "configContent", "podSeq", "activated")
CONFIG_META = {"labels": ("app.kubernetes.io/part-of", "tars-tasks.io/release", "tars.io/ConfigKind"),
               "annotations": ("tars-tasks.io/config-name", "helm.sh/resource-policy")}


def config_view(obj: dict[str, Any]) -> dict[str, Any]:
    """A live TConfig version as the chart renders one (the framework's and helm's own fields left out)."""
    meta = obj.get("metadata") or {}
    view: dict[str, Any] = {k: obj[k] for k in CONFIG_FIELDS if k in obj}
    view["metadata"] = {"name": meta.get("name", ""), "namespace": meta.get("namespace", ""),
                        **{part: {k: v for k, v in (meta.get(part) or {}).items() if k in keys}
                           for part, keys in CONFIG_META.items()}}
    view["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    return view


def activated_configs(live: Live, release: str) -> dict[str, dict[str, Any]]:
    """The activated version of each config of ``release`` (TConfig versions are not in helm's manifest)."""
    return {f"TConfig/{name}": config_view(obj) for name, obj in sorted(live.tconfigs.items())
            if obj.get("activated") and ((obj.get("metadata") or {}).get("labels") or {}).get(
                "tars-tasks.io/release") == release}


def diff_one(state: ServiceState, live: Live, rendered: str) -> ServiceDiff:
    record = live.records.get(state.release)
    deployed = {**manifest_objects(record.manifest if record else ""), **activated_configs(live, state.release)}
    apply = manifest_objects(rendered)
    old_name = f"{state.release} (helm revision {record.revision})" if record else f"{state.release} (not deployed)"
    text = unified(normal(deployed), normal(apply), old_name, f"{state.release} (this checkout)")
    result = ServiceDiff(state.id, state.verdict, text)
    if not text and normal(deployed, masked=False) != normal(apply, masked=False):
        result.notes.append("differs only in masked (secret) values")
    for gone in missing_objects(record, live):  # deleted by hand: what a release recreates, against nothing
        result.text += unified(normal({gone: deployed[gone]}), [], f"{gone} (helm revision {record.revision})"
                               if record else gone, f"{gone} (live: missing)")
    key = f"TServer/{state.release}"
    tserver = live.tservers.get(state.release)
    if key in deployed and tserver is not None:
        declared = {"spec": as_admitted(deployed[key].get("spec"))}  # what the framework's webhook sets is no drift
        running = {"spec": project_onto(tserver.get("spec"), declared["spec"])}
        drift = unified(normal({key: declared}), normal({key: running}), f"{key} (helm revision {record.revision})"
                        if record else key, f"{key} (live)")
        result.text += drift
    return result


def diff(project: Project, ids: list[str], namespace: str | None = None, helm: Helm | None = None,
         kube: Kube | None = None) -> list[ServiceDiff]:
    """The diff of every named service (default: all) that is not in sync, in id order."""
    settings = project.settings
    ns = namespace or settings.namespace
    helm = helm or Helm.from_settings(settings)
    want = desired(project, ids, ns)
    live = read_live(helm, kube or Kube.from_settings(settings), ns)
    out: list[ServiceDiff] = []
    with TemporaryDirectory(prefix="tars-diff-") as tmp:
        for service in want.services:
            state = judge_service(service, want, live)
            if state.verdict == IN_SYNC:
                continue
            _, path = package(service, settings, want.artifacts[service.id].tag, Path(tmp))
            tag = want.artifacts[service.id].tag
            rendered = helm.template_against(service.name, str(path), ns, secret_values(service, settings, tag))
            found = diff_one(state, live, rendered)
            if found.text or found.notes:
                out.append(found)
    return out
