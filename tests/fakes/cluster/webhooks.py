"""K8SFramework's admission webhooks for TConfig and TServer (k8s.tars.io/v1beta3), ported to the fake cluster.

Ported from TarsCloud/K8SFramework (src/WebhookServer/webhook/{mutating,validating}/tars/v1beta3/{tconfig,
tserver}.go, messages in src/k8s.tars.io/meta/format.go); the messages are upstream's, word for word (typos
included: "filed", "anther", "less then"), so a test sees what a user of a real cluster sees:

    admission webhook "validating.crd.tars.io-0" denied the request: tconfig during deletion guard time(48s)

They run for requests to the API server only (``user_request``): the fake operator, the TConfig controller
(tconfig_controller.py, upstream's controller account, which the webhooks let through) and objects a test
plants with ``FakeCluster.create`` are not admitted. The webhooks' own writes (marking another TConfig
``tars.io/Deactivate`` or ``tars.io/Deleting``) go straight to the store, as the webhook's account would.
"""
from __future__ import annotations

import contextlib
import copy
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .store import ApiError

if TYPE_CHECKING:  # pragma: no cover
    from .resources import Resource
    from .store import Store

VALIDATING, MUTATING = "validating.crd.tars.io-0", "mutating.crd.tars.io"
APP, SERVER, SUBTYPE, SERVER_ID, TEMPLATE = ("tars.io/ServerApp", "tars.io/ServerName", "tars.io/SubType",
                                             "tars.io/ServerID", "tars.io/Template")
CONFIG_NAME, VERSION, ACTIVATED, POD_SEQ = "tars.io/ConfigName", "tars.io/Version", "tars.io/Activated", "tars.io/PodSeq"
DELETING, DEACTIVATE = "tars.io/Deleting", "tars.io/Deactivate"
READINESS_GATE = "tars.io/active"
NODE_SERVANT_PORT = 19385
MAX_TSERVER_NAME = 59
MAX_REPLICAS, MIN_REPLICAS = "tars.io/MaxReplicas", "tars.io/MinReplicas"
DEFAULT_GUARD = 48.0
# TFrameworkConfig's default node image: what the mutating webhook gives a tars server without one
NODE_IMAGE, NODE_SECRET = "tarscloud/tars.tarsnode:v1beta3", "tars-image-secret"

_local = threading.local()


@contextlib.contextmanager
def user_request() -> Iterator[None]:
    """Mark the writes of this thread as an API request (admitted by the webhooks) while in the block."""
    before = getattr(_local, "user", False)
    _local.user = True
    try:
        yield
    finally:
        _local.user = before


@contextlib.contextmanager
def system() -> Iterator[None]:
    """The webhooks' own writes: not admitted again."""
    before = getattr(_local, "user", False)
    _local.user = False
    try:
        yield
    finally:
        _local.user = before


def admitted() -> bool:
    return bool(getattr(_local, "user", False))


def immutable(kind: str, field: str) -> str:
    return f'{kind} resource filed "{field}" is immutable'  # FiledImmutableError, verbatim


def invalid(kind: str, message: str) -> str:
    return f"{kind} resource is invalid : {message}"  # ResourceInvalidError, verbatim


class Denied(ApiError):
    """A webhook said no: the API server answers 400 with the webhook's name before its message."""

    def __init__(self, message: str, webhook: str = VALIDATING):
        super().__init__(400, "", f'admission webhook "{webhook}" denied the request: {message}')


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return obj.setdefault("metadata", {}).get("labels") or {}


def go_time_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_version(name: str) -> str:
    """Upstream's version string: Go's layout "20060102030405" (a 12-hour clock: upstream's own quirk) and the
    crc32 of the object's name in hex."""
    return f"{datetime.now().strftime('%Y%m%d%I%M%S')}-{zlib.crc32(name.encode()):x}"


class Webhooks:
    """The TConfig and TServer webhooks, called by the store for admitted writes (see Store.admission)."""

    def __init__(self, store: Store, guard: float = DEFAULT_GUARD):
        self.store = store
        self.guard = guard  # the deletion guard of an activated TConfig, seconds (upstream: 48)
        self.created: dict[str, float] = {}  # TConfig uid -> when it was created (monotonic), for the guard

    # --- the store's hooks ---------------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        if not admitted():
            return obj
        if resource.kind == "TConfig":
            obj = self._mutate_tconfig(obj, creating=True)
            self._validate_create_tconfig(namespace, obj)
        elif resource.kind == "TServer":
            obj = self._mutate_tserver(obj)
            self._validate_tserver(namespace, obj, None)
        return obj

    def created_object(self, resource: Resource, obj: dict[str, Any]) -> None:
        """After a create was committed: remember when, for the deletion guard."""
        if resource.kind == "TConfig":
            self.created[obj["metadata"]["uid"]] = time.monotonic()

    def update(self, resource: Resource, live: dict[str, Any], new: dict[str, Any], subresource: str) -> dict[str, Any]:
        if not admitted() or subresource:
            return new
        namespace = live["metadata"].get("namespace", "")
        if resource.kind == "TConfig":
            new = self._mutate_tconfig(new, creating=False)
            self._validate_update_tconfig(namespace, live, new)
        elif resource.kind == "TServer":
            new = self._mutate_tserver(new)
            self._validate_tserver(namespace, new, live)
        return new

    def delete(self, resource: Resource, live: dict[str, Any]) -> None:
        if admitted() and resource.kind == "TConfig":
            self._validate_delete_tconfig(live)

    # --- TConfig -------------------------------------------------------------------------------------------

    @staticmethod
    def _mutate_tconfig(obj: dict[str, Any], creating: bool) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        labels = meta.get("labels") or {}
        labels.update({APP: str(obj.get("app", "")), SERVER: str(obj.get("server", "")),
                       CONFIG_NAME: str(obj.get("configName", "")), POD_SEQ: str(obj.get("podSeq", "")),
                       ACTIVATED: "true" if obj.get("activated") else "false"})
        if creating:
            obj["version"] = config_version(meta.get("name", ""))
            obj["updateTime"] = go_time_now()
        labels[VERSION] = str(obj.get("version", ""))
        meta["labels"] = labels
        return obj

    def _tconfigs(self, namespace: str, **wanted: str | None) -> list[dict[str, Any]]:
        """TConfigs whose labels have the given values (None: the label must be absent)."""
        from .resources import by_kind

        def match(obj: dict[str, Any]) -> bool:
            labels = (obj.get("metadata") or {}).get("labels") or {}
            return all(labels.get(k) == v if v is not None else k not in labels for k, v in wanted.items())
        return self.store.list(by_kind("TConfig"), namespace, match)[0]

    def _mark(self, namespace: str, name: str, label: str, value: str) -> None:
        from .resources import by_kind

        with system():
            self.store.mutate(by_kind("TConfig"), namespace, name,
                              lambda live: live["metadata"].setdefault("labels", {}).update({label: value}))

    def _prepare_active(self, namespace: str, obj: dict[str, Any]) -> None:
        """The previous activated TConfig of the same app/server/configName/podSeq is marked tars.io/Deactivate
        (the controller then sets it activated: false)."""
        same = self._tconfigs(namespace, **{APP: str(obj.get("app", "")), SERVER: str(obj.get("server", "")),
                                            CONFIG_NAME: str(obj.get("configName", "")),
                                            POD_SEQ: str(obj.get("podSeq", "")), ACTIVATED: "true"})
        names = [o["metadata"]["name"] for o in same if o["metadata"]["name"] != obj["metadata"].get("name")]
        if not names:
            return
        if len(names) != 1:
            raise Denied(f"get unexpected activated tconfigs({namespace}/{obj.get('app', '')}-{obj.get('server', '')}"
                         f"/{obj.get('configName', '')}:{obj.get('podSeq', '')}) counts({len(names)})")
        self._mark(namespace, names[0], DEACTIVATE, "Deactivating")

    def _validate_create_tconfig(self, namespace: str, obj: dict[str, Any]) -> None:
        labels = _labels(obj)
        for label in (DEACTIVATE, DELETING):
            if label in labels:
                raise Denied(f"can not set label [{label}] when create")
        pod_seq, server = str(obj.get("podSeq", "")), str(obj.get("server", ""))
        if not server and pod_seq != "m":
            raise Denied("app level tconfig does not support master/slave")
        if pod_seq != "m":
            masters = self._tconfigs(namespace, **{APP: str(obj.get("app", "")), SERVER: server,
                                                   CONFIG_NAME: str(obj.get("configName", "")), POD_SEQ: "m",
                                                   ACTIVATED: "true", DEACTIVATE: None, DELETING: None})
            if not masters:
                raise Denied("no activated master tconfig found")
        if obj.get("activated"):
            self._prepare_active(namespace, obj)

    def _validate_update_tconfig(self, namespace: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        if DELETING in _labels(old):
            raise Denied("can not update deleting tconfig")
        for field, kind in (("app", "tconfig"), ("server", "tconfig"), ("podSeq", "tconfig"),
                            ("configName", "tconfig"), ("configContent", "tconfig"), ("version", "tconfig"),
                            ("updateTime", "TConfig"), ("updatePerson", "TConfig"), ("updateReason", "TConfig")):
            if new.get(field) != old.get(field):
                raise Denied(immutable(kind, f"/{field}"))
        if not new.get("activated") and old.get("activated"):
            raise Denied("only use authorized account can update /activated from true to false")
        if not old.get("activated") and new.get("activated"):
            self._prepare_active(namespace, new)

    def _age(self, obj: dict[str, Any]) -> float:
        meta = obj["metadata"]
        if meta.get("uid") in self.created:
            return time.monotonic() - self.created[meta["uid"]]
        stamp = datetime.strptime(meta.get("creationTimestamp", "1970-01-01T00:00:00Z"), "%Y-%m-%dT%H:%M:%SZ")
        return (datetime.now(timezone.utc) - stamp.replace(tzinfo=timezone.utc)).total_seconds()

    def _validate_delete_tconfig(self, obj: dict[str, Any]) -> None:
        if not obj.get("activated"):
            return
        if self._age(obj) <= self.guard:
            raise Denied("tconfig during deletion guard time(48s)")
        labels = _labels(obj)
        if DEACTIVATE in labels or DELETING in labels:
            return
        self._prepare_delete(obj)

    def _prepare_delete(self, obj: dict[str, Any]) -> None:
        """Deleting the activated version takes its history along (marked tars.io/Deleting, deleted by the
        controller); a master cannot go while a per-pod config of its name exists."""
        namespace, name, pod_seq = obj["metadata"]["namespace"], obj["metadata"]["name"], str(obj.get("podSeq", ""))
        wanted: dict[str, str | None] = {APP: str(obj.get("app", "")), SERVER: str(obj.get("server", "")),
                                         CONFIG_NAME: str(obj.get("configName", ""))}
        if pod_seq != "m":
            wanted[POD_SEQ] = pod_seq
        others = [o for o in self._tconfigs(namespace, **wanted) if o["metadata"]["name"] != name]
        if pod_seq == "m" and any(_labels(o).get(POD_SEQ) != "m" for o in others):
            raise Denied(f"cannot delete tconfig {namespace}/{name} because it is reference by anther tconfig")
        for other in others:
            self._mark(namespace, other["metadata"]["name"], DELETING, "Deleting")

    # --- TServer -------------------------------------------------------------------------------------------

    @staticmethod
    def _mutate_tserver(obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        spec = obj.setdefault("spec", {})
        k8s = spec.setdefault("k8s", {})
        labels = meta.get("labels") or {}
        labels.update({APP: str(spec.get("app", "")), SERVER: str(spec.get("server", "")),
                       SUBTYPE: str(spec.get("subType", ""))})
        gates = list(k8s.get("readinessGates") or [])
        if spec.get("tars") is not None:
            labels[TEMPLATE] = str(spec["tars"].get("template", ""))
            k8s["readinessGates"] = [READINESS_GATE] + [g for i, g in enumerate(gates)
                                                        if g != READINESS_GATE and g not in gates[:i]]
        if spec.get("normal") is not None:
            labels.pop(TEMPLATE, None)
            spec["normal"].setdefault("ports", [])
            if gates:
                k8s["readinessGates"] = [g for i, g in enumerate(gates) if g not in gates[:i]]
        if k8s.get("hostPorts") or k8s.get("hostIPC"):
            k8s["notStacked"] = True
        bounds = Webhooks._replica_bounds(meta.get("annotations") or {})
        release = spec.get("release")
        if release is None:
            k8s["replicas"] = 0
        else:
            if "replicas" in k8s:  # upstream writes 0 for an absent count; the CRD asks for one anyway
                k8s["replicas"] = min(max(int(k8s["replicas"] or 0), bounds[0]), bounds[1])
            if not release.get("time"):
                release["time"] = go_time_now()
            labels[SERVER_ID] = str(release.get("id", ""))
            if spec.get("tars") is not None and not release.get("nodeImage"):
                release["nodeImage"], release["nodeSecret"] = NODE_IMAGE, NODE_SECRET
            if spec.get("normal") is not None:
                release.pop("nodeImage", None)
                release.pop("nodeSecret", None)
        meta["labels"] = labels
        return obj

    @staticmethod
    def _replica_bounds(annotations: dict[str, str]) -> tuple[int, int]:
        import re

        low, high = -(2 ** 31), 2 ** 31 - 1
        for key in (MAX_REPLICAS, MIN_REPLICAS):
            if key in annotations and not re.match(r"^[1-9]?[0-9]$", str(annotations[key])):
                raise Denied(invalid("tserver", "unexpected annotation format"), MUTATING)
        if MAX_REPLICAS in annotations:
            high = int(annotations[MAX_REPLICAS])
        if MIN_REPLICAS in annotations:
            low = int(annotations[MIN_REPLICAS])
        if low > high:
            raise Denied(invalid("tserver", "unexpected annotation value"), MUTATING)
        return low, high

    def _validate_tserver(self, namespace: str, new: dict[str, Any], old: dict[str, Any] | None) -> None:
        spec = new.get("spec") or {}
        if old is not None:
            before = old.get("spec") or {}
            for field in ("app", "server", "subType"):
                if spec.get(field) != before.get(field):
                    raise Denied(immutable("tserver", f".spec.{field}"))
            for field in ("tars", "normal"):
                if before.get(field) is None and spec.get(field) is not None:
                    raise Denied(immutable("tserver", f".spec.{field}"))
        name = new["metadata"].get("name", "")
        if name != f"{str(spec.get('app', '')).lower()}-{str(spec.get('server', '')).lower()}":
            raise Denied(invalid("tserver", "unexpected resource name"))
        if len(name) >= MAX_TSERVER_NAME:
            raise Denied(invalid("tserver", "length of resource name should less then 59"))
        names: set[str] = set()
        ports: set[int] = set()
        if spec.get("tars") is not None:
            tars = spec["tars"]
            self._ports(tars.get("servants") or [], names, ports, "servants port", "servant name", reserved=True)
            self._ports(tars.get("ports") or [], names, ports, "port", "port name", reserved=True)
            self._template(namespace, str(tars.get("template", "")))
        elif spec.get("normal") is not None:
            self._ports(spec["normal"].get("ports") or [], names, ports, "port", "port name", reserved=False)
        self._host_ports(spec.get("k8s") or {}, names)
        self._mounts(spec.get("k8s") or {})

    @staticmethod
    def _ports(items: list[dict[str, Any]], names: set[str], ports: set[int], what: str, name_what: str,
               reserved: bool) -> None:
        for item in items:
            name, port = str(item.get("name", "")), item.get("port")
            if reserved and port == NODE_SERVANT_PORT:
                raise Denied(invalid("tserver", f"{what} value should not equal {NODE_SERVANT_PORT}"))
            if name.lower() in names:
                raise Denied(invalid("tserver", f"duplicate {name_what} value {name}"))
            if port in ports:
                raise Denied(invalid("tserver", f"duplicate port value {port}"))
            names.add(name.lower())
            ports.add(port)

    def _template(self, namespace: str, name: str) -> None:
        from .resources import by_kind

        if self.store.find(by_kind("TTemplate"), namespace, name) is None:
            raise Denied(f"ttemplate {namespace}/{name} not exists")  # ResourceNotExistError, verbatim

    @staticmethod
    def _host_ports(k8s: dict[str, Any], names: set[str]) -> None:
        refs: set[str] = set()
        ports: set[Any] = set()
        for host_port in k8s.get("hostPorts") or []:
            ref = str(host_port.get("nameRef", ""))
            if ref.lower() not in names:
                raise Denied(invalid("tserver", f"port name {ref} not exist"))
            if ref.lower() in refs:
                raise Denied(invalid("tserver", f"duplicate nameRef value {ref}"))
            if host_port.get("port") in ports:
                raise Denied(invalid("tserver", f"duplicate port value {host_port.get('port')}"))
            refs.add(ref.lower())
            ports.add(host_port.get("port"))

    @staticmethod
    def _mounts(k8s: dict[str, Any]) -> None:
        seen: set[str] = set()
        for mount in k8s.get("mounts") or []:
            name = str(mount.get("name", ""))
            if name in seen:
                raise Denied(invalid("tserver", f"duplicate .mounts.name value {name}"))
            source = mount.get("source") or {}
            if (source.get("tLocalVolume") is not None or source.get("persistentVolumeClaimTemplate") is not None) \
                    and k8s.get("daemonSet"):
                raise Denied(invalid("tserver", "can not use TLocalVolume and PersistentVolumeClaimTemplate when "
                                                ".daemonSet value is true"))
            seen.add(name)
