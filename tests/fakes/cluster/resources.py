"""The kinds the fake cluster serves, and the discovery documents that describe them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TARS_GROUP = "k8s.tars.io"
TARS_VERSIONS = ("v1beta3", "v1beta2")
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    """One served resource type (in every version of its group)."""

    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def api_version(self, version: str | None = None) -> str:
        version = version or self.versions[0]
        return f"{self.group}/{version}" if self.group else version

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources


RESOURCES: tuple[Resource, ...] = (
    Resource("Namespace", "", ("v1",), "namespaces", namespaced=False, subresources=("status",), short_names=("ns",)),
    Resource("Secret", "", ("v1",), "secrets"),
    Resource("ConfigMap", "", ("v1",), "configmaps", short_names=("cm",)),
    Resource("Event", "", ("v1",), "events", short_names=("ev",)),
    Resource("Pod", "", ("v1",), "pods", subresources=("status", "log"), short_names=("po",)),
    Resource("Service", "", ("v1",), "services", subresources=("status",), short_names=("svc",)),
    Resource("ServiceAccount", "", ("v1",), "serviceaccounts", short_names=("sa",)),
    Resource("StatefulSet", "apps", ("v1",), "statefulsets", subresources=("status",), short_names=("sts",)),
    Resource("DaemonSet", "apps", ("v1",), "daemonsets", subresources=("status",), short_names=("ds",)),
    Resource("Deployment", "apps", ("v1",), "deployments", subresources=("status",), short_names=("deploy",)),
    Resource("Lease", "coordination.k8s.io", ("v1",), "leases"),
    Resource("CustomResourceDefinition", "apiextensions.k8s.io", ("v1",), "customresourcedefinitions",
             namespaced=False, subresources=("status",), short_names=("crd",)),
    Resource("TServer", TARS_GROUP, TARS_VERSIONS, "tservers", subresources=("status",), short_names=("ts",)),
    Resource("TConfig", TARS_GROUP, TARS_VERSIONS, "tconfigs", short_names=("tc",)),
    Resource("TImage", TARS_GROUP, TARS_VERSIONS, "timages", short_names=("ti",)),
    Resource("TTemplate", TARS_GROUP, TARS_VERSIONS, "ttemplates", short_names=("tt",)),
)

_BY_PLURAL = {(r.group, r.plural): r for r in RESOURCES}


def by_plural(group: str, version: str, plural: str) -> Resource | None:
    """The resource served at /apis/<group>/<version>/<plural> (or /api/v1/<plural>)."""
    found = _BY_PLURAL.get((group, plural))
    return found if found and version in found.versions else None


def by_kind(kind: str) -> Resource:
    """A resource by kind, plural or short name, case-insensitively ("TServer", "tservers", "sts")."""
    wanted = kind.lower()
    for r in RESOURCES:
        if wanted in (r.kind.lower(), r.plural, *r.short_names):
            return r
    raise KeyError(f"the fake cluster serves no kind {kind!r}")


def crd(resource: Resource) -> dict[str, Any]:
    """The CustomResourceDefinition a cluster with K8SFramework installed has for a TARS kind."""
    subresources = {"status": {}} if resource.has_status else {}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{resource.plural}.{resource.group}"},
            "spec": {"group": resource.group, "scope": "Namespaced" if resource.namespaced else "Cluster",
                     "names": {"kind": resource.kind, "listKind": f"{resource.kind}List", "plural": resource.plural,
                               "singular": resource.singular, "shortNames": list(resource.short_names)},
                     "versions": [{"name": v, "served": True, "storage": i == 0, "subresources": subresources,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}
                                  for i, v in enumerate(resource.versions)]},
            "status": {"conditions": [{"type": "Established", "status": "True"}],
                       "acceptedNames": {"kind": resource.kind, "plural": resource.plural},
                       "storedVersions": [resource.versions[0]]}}


def custom_resources() -> list[Resource]:
    return [r for r in RESOURCES if r.group == TARS_GROUP]


def groups() -> dict[str, list[str]]:
    """Group name -> versions, the core group ("") first."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        for v in r.versions:
            if v not in out.setdefault(r.group, []):
                out[r.group].append(v)
    return out


# --- legacy discovery ---------------------------------------------------------------------------------


def api_versions() -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}


def _group_version(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [_group_version(g, v) for v in vs], "preferredVersion": _group_version(g, vs[0])}
        for g, vs in groups().items() if g]}


def api_group(group: str) -> dict[str, Any] | None:
    versions = groups().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group,
            "versions": [_group_version(group, v) for v in versions],
            "preferredVersion": _group_version(group, versions[0])}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    served = [r for r in RESOURCES if r.group == group and version in r.versions]
    if not served:
        return None
    resources = []
    for r in served:
        resources.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                          "kind": r.kind, "verbs": VERBS, "shortNames": list(r.short_names)})
        resources += [{"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                       "kind": r.kind if sub == "status" else "Pod", "verbs": _sub_verbs(sub)}
                      for sub in r.subresources]
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _sub_verbs(sub: str) -> list[str]:
    return ["get"] if sub == "log" else ["get", "patch", "update"]


# --- aggregated discovery (apidiscovery.k8s.io/v2), what client-go asks for first ------------------------

AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _discovered(r: Resource, version: str) -> dict[str, Any]:
    kind = {"group": r.group, "version": version, "kind": r.kind}
    subs = [{"subresource": sub, "verbs": _sub_verbs(sub),
             "responseKind": kind if sub == "status" else {"group": "", "version": "v1", "kind": "Pod"}}
            for sub in r.subresources]
    return {"resource": r.plural, "responseKind": kind, "scope": "Namespaced" if r.namespaced else "Cluster",
            "singularResource": r.singular, "verbs": VERBS, "shortNames": list(r.short_names),
            "subresources": subs}


def aggregated(core: bool) -> dict[str, Any]:
    """The APIGroupDiscoveryList served on /api (core=True) or /apis (all other groups)."""
    items = []
    for group, versions in groups().items():
        if (group == "") != core:
            continue
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": [
            {"version": v, "freshness": "Current",
             "resources": [_discovered(r, v) for r in RESOURCES if r.group == group and v in r.versions]}
            for v in versions]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": items}
