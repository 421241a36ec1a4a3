"""Cross-field rules of one values.yaml that JSON Schema cannot say (platform rules of K8SFramework v1beta3).

Rules only look at well-typed parts, so a file with schema errors still gets its other problems reported.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.deploy.canary import step_problems
from tars_tasks.image.spec import pinned_image

RESERVED_PORT = 19385
MAX_TSERVER_NAME = 58  # "under 59 characters"
KNOWN_TEMPLATES = ("tars.default", "tars.cpp", "tars.java", "tars.nodejs", "tars.php", "tars.es")
FRAMEWORK_ENV = ("Namespace", "PodName", "PodIP", "ServerApp")
LOG_MOUNT_NAME = "host-log-dir"
LOG_MOUNT_PATH = "/usr/local/app/tars/app_log"
MOUNT_SOURCES = ("hostPath", "persistentVolumeClaim", "persistentVolumeClaimTemplate", "tLocalVolume",
                 "emptyDir", "configMap", "secret")
NORMAL_PORT_NAME = re.compile(r"^([0-9a-z][-0-9a-z]*)?[0-9a-z]$")
INTEGER = re.compile(r"^-?[0-9]+$")
RELEASE_ID = re.compile(r"^([0-9A-Za-z][-_.0-9A-Za-z]*)?[0-9A-Za-z]$")


def items(values: dict, key: str) -> Iterator[tuple[int, dict]]:
    """(index, item) for each mapping in the list ``values[key]``; wrong types are the schema's business."""
    seq = values.get(key)
    if isinstance(seq, list):
        for i, item in enumerate(seq):
            if isinstance(item, dict):
                yield i, item


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check(service: Service) -> list[Problem]:
    out: list[Problem] = []
    for rule in (_identity, _servants, _host_ports, _configs, _mounts, _label_match, _env, _repo, _canary):
        out.extend(rule(service, service.values))
    return out


def _identity(s: Service, v: dict) -> Iterator[Problem]:
    app, server = _str(v.get("app")), _str(v.get("server"))
    if app and server and len(s.name) > MAX_TSERVER_NAME:
        yield s.problem(["server"], f"TServer name {s.name!r} is {len(s.name)} characters; "
                                    f"lower(app)-lower(server) must be at most {MAX_TSERVER_NAME}")
    subtype = v.get("subtype") or "tars"  # null is "not set", as for every optional field
    template = _str(v.get("template"))
    if subtype == "tars" and v.get("template") is None:
        yield s.problem([], "missing required key 'template' (a TTemplate such as tars.cpp; required for subtype tars)")
    elif template and template not in KNOWN_TEMPLATES:
        yield s.problem(["template"], f"{template!r} is not a template the framework ships "
                                      f"({', '.join(KNOWN_TEMPLATES)}); make sure your operator created it",
                        warning=True)


def _servants(s: Service, v: dict) -> Iterator[Problem]:
    normal = v.get("subtype") == "normal"
    names: dict[str, int] = {}
    ports: dict[int, int] = {}
    for i, servant in items(v, "servants"):
        name, port = _str(servant.get("name")), _int(servant.get("port"))
        if name is not None:
            if normal and (len(name) > 15 or not NORMAL_PORT_NAME.match(name.lower())):
                yield s.problem(["servants", i, "name"], f"{name!r} is invalid for subtype normal: a port name needs "
                                                         "at most 15 letters, digits and '-'")
            key = name.lower()
            if key in names:
                yield s.problem(["servants", i, "name"], f"duplicate servant name {name!r} (names are compared "
                                                         f"ignoring case; first at servants[{names[key]}])")
            else:
                names[key] = i
        if port is not None:
            if port == RESERVED_PORT:
                yield s.problem(["servants", i, "port"], f"{port} is reserved by the TARS framework")
            elif port in ports:
                yield s.problem(["servants", i, "port"], f"duplicate port {port} (also servants[{ports[port]}])")
            else:
                ports[port] = i
        if normal:
            for key in ("isTars", "thread", "capacity", "connection", "timeout"):
                if key in servant:
                    yield s.problem(["servants", i, key], "not used by subtype normal (only name, port, isTcp)",
                                    key=True, warning=True)


def _host_ports(s: Service, v: dict) -> Iterator[Problem]:
    servants = {(_str(x.get("name")) or "").lower() for _, x in items(v, "servants")}
    seen: dict[int, int] = {}
    for i, hp in items(v, "hostPorts"):
        ref, port = _str(hp.get("nameRef")), _int(hp.get("port"))
        if ref is not None and ref.lower() not in servants:
            yield s.problem(["hostPorts", i, "nameRef"], f"{ref!r} names no servant of this service")
        if port is not None:
            if port in seen:
                yield s.problem(["hostPorts", i, "port"], f"duplicate host port {port} (also hostPorts[{seen[port]}])")
            seen[port] = i


def _configs(s: Service, v: dict) -> Iterator[Problem]:
    replicas = _int(v.get("replicas"))
    replicas = 1 if replicas is None and v.get("replicas") is None else replicas
    masters = set()
    for kind in ("config", "appConfig"):
        seen: dict[str, int] = {}
        for i, c in items(v, kind):
            name = _str(c.get("name"))
            if name is None:
                continue
            if name in seen:
                yield s.problem([kind, i, "name"], f"duplicate {kind} name {name!r} (also {kind}[{seen[name]}])")
            seen[name] = i
            if kind == "config":
                masters.add(name)
    seen_node: dict[tuple, int] = {}
    for i, c in items(v, "nodeConfig"):
        name, seq = _str(c.get("name")), _int(c.get("podSeq"))
        if name is None:
            continue
        if name not in masters:
            yield s.problem(["nodeConfig", i, "name"], f"{name!r} has no config of the same name; a per-pod config "
                                                       "needs a master entry in config")
        if seq is not None:
            if (name, seq) in seen_node:
                yield s.problem(["nodeConfig", i, "podSeq"], f"duplicate nodeConfig {name!r} for podSeq {seq} "
                                                             f"(also nodeConfig[{seen_node[(name, seq)]}])")
            seen_node[(name, seq)] = i
            if replicas is not None and replicas <= seq <= 98:
                yield s.problem(["nodeConfig", i, "podSeq"], f"{seq} is not less than replicas ({replicas}); "
                                                             "no pod has this sequence number")


def _mounts(s: Service, v: dict) -> Iterator[Problem]:
    names: dict[str, int] = {}  # first index of each name / normalised mountPath, to name the duplicate
    paths: dict[str, int] = {}
    daemon = v.get("daemonSet") is True
    for i, m in items(v, "mounts"):
        yield from _mount_name(s, i, m, names)
        yield from _mount_path(s, i, m, paths)
        if m.get("subPath") is not None and m.get("subPathExpr") is not None:
            yield s.problem(["mounts", i, "subPathExpr"], "subPath and subPathExpr are mutually exclusive", key=True)
        yield from _mount_source(s, i, m, daemon)


def _mount_name(s: Service, i: int, m: dict, names: dict[str, int]) -> Iterator[Problem]:
    name = _str(m.get("name"))
    if name is None:
        return
    if name == LOG_MOUNT_NAME:
        yield s.problem(["mounts", i, "name"], f"{name!r} is the framework's log mount; choose another name")
    elif name in names:
        yield s.problem(["mounts", i, "name"], f"duplicate mount name {name!r} (also mounts[{names[name]}])")
    names.setdefault(name, i)


def _mount_path(s: Service, i: int, m: dict, paths: dict[str, int]) -> Iterator[Problem]:
    if m.get("mountPath") is None:
        yield s.problem(["mounts", i], "missing required key 'mountPath'")
        return
    path = _str(m.get("mountPath"))
    if path is None:
        return
    norm = path.rstrip("/") or "/"
    if norm == LOG_MOUNT_PATH:
        yield s.problem(["mounts", i, "mountPath"], f"{path!r} is where the framework mounts app_log")
    elif norm in paths:
        yield s.problem(["mounts", i, "mountPath"], f"duplicate mountPath {path!r} (also mounts[{paths[norm]}])")
    paths.setdefault(norm, i)


def _mount_source(s: Service, i: int, m: dict, daemon: bool) -> Iterator[Problem]:
    if m.get("source") is None:
        yield s.problem(["mounts", i], f"missing required key 'source' (one of {', '.join(MOUNT_SOURCES)})")
        return
    source = m.get("source")
    if not isinstance(source, dict):
        return
    given = [k for k in MOUNT_SOURCES if source.get(k) is not None]
    if len(given) != 1:
        what = "none" if not given else ", ".join(given)
        yield s.problem(["mounts", i, "source"], f"needs exactly one source ({', '.join(MOUNT_SOURCES)}); got {what}")
    elif daemon and given[0] in ("tLocalVolume", "persistentVolumeClaimTemplate"):
        yield s.problem(["mounts", i, "source", given[0]], f"{given[0]} cannot be used with daemonSet: true", key=True)


SELECTOR_KEYS = ("labelMatch", "nodeSelector")  # ours and upstream's: both become spec.k8s.nodeSelector


def _label_match(s: Service, v: dict) -> Iterator[Problem]:
    """Each node selector requirement (labelMatch and nodeSelector alike) is well-formed; together they can
    match some node."""
    for kind in SELECTOR_KEYS:
        for i, lm in items(v, kind):
            yield from _requirement(s, kind, i, lm)
    yield from _contradictions(s, v)


def _requirement(s: Service, kind: str, i: int, lm: dict) -> Iterator[Problem]:
    op = lm.get("operator")
    values = lm.get("values")
    has_values = isinstance(values, list) and len(values) > 0
    if op in ("In", "NotIn") and not has_values:
        yield s.problem([kind, i], f"operator {op} needs a non-empty 'values' list")
    elif op in ("Exists", "DoesNotExist") and "values" in lm and values not in (None, []):
        yield s.problem([kind, i, "values"], f"operator {op} takes no values")
    elif op in ("Gt", "Lt"):
        if not isinstance(values, list) or len(values) != 1:
            yield s.problem([kind, i] + (["values"] if "values" in lm else []),
                            f"operator {op} takes exactly one integer value")
        elif isinstance(values[0], bool) or not INTEGER.match(str(values[0])):
            yield s.problem([kind, i, "values", 0], f"operator {op} needs an integer, got {values[0]!r}")


def _selector_entries(v: dict) -> list[tuple[str, int, str, str, set[str]]]:
    """(list, index, key, operator, values as strings) of every well-typed requirement, labelMatch first."""
    out = []
    for kind in SELECTOR_KEYS:
        for i, lm in items(v, kind):
            key, op, values = _str(lm.get("key")), _str(lm.get("operator")), lm.get("values")
            if key and op:
                out.append((kind, i, key, op, {str(x) for x in values} if isinstance(values, list) else set()))
    return out


def _contradict(a: tuple[str, set[str]], b: tuple[str, set[str]]) -> bool:
    """Can no node satisfy both requirements (on the same key)?"""
    (op1, v1), (op2, v2) = sorted([a, b])
    needs_label = {"Exists", "In", "Gt", "Lt"}
    if "DoesNotExist" in (op1, op2):
        return (op1 if op2 == "DoesNotExist" else op2) in needs_label
    if op1 == op2 == "In":
        return not v1 & v2
    if (op1, op2) == ("In", "NotIn"):
        return v1 <= v2
    if (op1, op2) == ("Gt", "Lt") and all(INTEGER.match(x) for x in v1 | v2) and len(v1) == len(v2) == 1:
        return int(next(iter(v2))) - int(next(iter(v1))) <= 1  # no integer strictly between
    return False


def _contradictions(s: Service, v: dict) -> Iterator[Problem]:
    entries = _selector_entries(v)
    for n, (kind, i, key, op, values) in enumerate(entries):
        for other_kind, j, other_key, other_op, other_values in entries[:n]:
            if key == other_key and _contradict((op, values), (other_op, other_values)):
                yield s.problem([kind, i], f"contradicts {other_kind}[{j}] on key {key!r} ({other_op} and {op}): "
                                           "no node can match both (labelMatch and nodeSelector are combined)")
                break


def _env(s: Service, v: dict) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for i, e in items(v, "envVars"):
        name = _str(e.get("name"))
        if name is None:
            continue
        if name in FRAMEWORK_ENV:
            yield s.problem(["envVars", i, "name"], f"{name!r} is set by the framework; choose another name")
        elif name in seen:
            yield s.problem(["envVars", i, "name"], f"duplicate env var {name!r} (also envVars[{seen[name]}])")
        seen.setdefault(name, i)
        if (e.get("value") is not None) == (e.get("valueFrom") is not None):
            yield s.problem(["envVars", i], "needs exactly one of 'value' or 'valueFrom'")


def _repo(s: Service, v: dict) -> Iterator[Problem]:
    """A pinned image (repo.image with a tag or digest) is deployed as given: it cannot also be built. A
    repo.id only names pinned releases; built ones are named by their content tag."""
    repo = v.get("repo")
    if not isinstance(repo, dict):
        return
    pinned = pinned_image(s)
    if pinned and v.get("build") is not None:
        build_line, _ = s.locator.find(["build"], key=True)
        image_line, _ = s.locator.find(["repo", "image"])
        yield s.problem(["repo", "image"], f"{pinned!r} is pinned (it has a tag or digest, line {image_line}) and "
                                           f"is never built, but a build section is given (line {build_line}): "
                                           "drop the tag to build it, or drop build to deploy it as given")
    elif not pinned and RELEASE_ID.match(str(repo.get("id") or "")):  # a malformed one is the schema's error
        yield s.problem(["repo", "id"], "ignored: a built image's release id is its content tag (a rerun with "
                                        "nothing changed restarts nothing); repo.id names pinned images only",
                        warning=True)


def _canary(s: Service, v: dict) -> Iterator[Problem]:
    """A canary's steps increase and end at 100 (JSON Schema checks each one is a percent); daemonSet servers
    cannot canary (a DaemonSet has no partition)."""
    canary = v.get("canary")
    if not isinstance(canary, dict):
        return
    steps = canary.get("steps")
    if isinstance(steps, list) and all(_int(x) is not None and 1 <= x <= 100 for x in steps):  # else: the schema
        for path, message in step_problems(steps):
            yield s.problem(["canary", "steps", *path], message)
    if v.get("daemonSet") is True:
        yield s.problem(["canary"], "a daemonSet server cannot canary (a DaemonSet has no partition); remove canary")
