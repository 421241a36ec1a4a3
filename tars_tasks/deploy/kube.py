"""The Kubernetes API for rollout tracking (TServers, their workloads, pods, logs and events, read-only) and
for the TConfig versions a deploy creates, re-activates and removes (deploy/configs.py).

The client is lightkube (docs/releases.md says why): it reads the same kubeconfig as helm ($KUBECONFIG, else
~/.kube/config, else the in-cluster service account) and the same context (`tars.kube_context`). Results
are plain dicts (the API's JSON), so the judging code in deploy/track.py is plain functions over data.
It is imported on first use: only a real deploy pays for it.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from tars_tasks.core.errors import TarsError
from tars_tasks.core.helm import seconds
from tars_tasks.core.settings import Settings
from tars_tasks.state.verification import Verification, mark_patch, marks

TARS_GROUP = "k8s.tars.io"
APP_LABEL, SERVER_LABEL = "tars.io/ServerApp", "tars.io/ServerName"


TRANSIENT_CODES = (429, 500, 502, 503, 504)
T = TypeVar("T")


class KubeError(TarsError):
    """The cluster could not be asked (unreachable, forbidden, bad kubeconfig), or refused (``code``: its HTTP
    status; 0 when it was not reached). ``transient``: worth asking again (a 5xx or 429 answer, a reset or
    timed-out connection), as tracking does within its deadline."""

    def __init__(self, message: str, code: int = 0, transient: bool = False):
        super().__init__(message)
        self.code = code
        self.transient = transient or code in TRANSIENT_CODES


READ_RETRIES, READ_RETRY_FIRST = 4, 0.2  # a one-shot read (status, diff, plan): 0.2+0.4+0.8+1.6 s of waits
READ_RETRY_BUDGET = 10.0  # no new attempt after this many seconds: a hung API server is not waited on 5 times


def retried(call: Callable[[], T], sleep: Callable[[float], None] = time.sleep) -> T:
    """``call()``, asked again with backoff after a transient KubeError (5xx, 429, a reset connection), as tracking
    does: one such answer must not decide a verdict. The error propagates once the retries (or the budget) are
    spent."""
    wait, started = READ_RETRY_FIRST, time.monotonic()
    for _ in range(READ_RETRIES):
        try:
            return call()
        except KubeError as exc:
            if not exc.transient or time.monotonic() - started > READ_RETRY_BUDGET:
                raise
        sleep(wait)
        wait *= 2
    return call()


def kubeconfig_path() -> Path | None:
    """The kubeconfig helm reads: the first file of $KUBECONFIG, else ~/.kube/config (None: in-cluster)."""
    for entry in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if entry and Path(entry).expanduser().is_file():
            return Path(entry).expanduser()
    default = Path.home() / ".kube" / "config"
    return default if default.is_file() else None


def cluster_configured() -> bool:
    """Is a Kubernetes API configured at all (a kubeconfig, or in a pod)?"""
    return kubeconfig_path() is not None or bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def current_context(configured: str) -> str:
    """The kube context a run talks to: ``configured`` (tars.kube_context), else the kubeconfig's
    current-context ("" without a kubeconfig, or one that names none)."""
    if configured:
        return configured
    path = kubeconfig_path()
    if path is None:
        return ""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    found = data.get("current-context") if isinstance(data, dict) else None
    return found if isinstance(found, str) else ""


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


@dataclass
class Kube:
    kube_context: str = ""
    api_version: str = "k8s.tars.io/v1beta3"
    timeout: float = 30.0  # per request; a busy API server may be slow, a hung one must not hang the run
    _client: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Kube:
        """The configured context and TARS API version; requests time out after tars.helm_read_timeout."""
        return cls(settings.kube_context, settings.api_version, seconds(settings.helm_read_timeout))

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        """A lightkube client for the configured context; users are authenticated as deploy/kubeauth.py says
        (exec credential plugins of every apiVersion run there), and what it cannot do is a KubeConfigError."""
        import httpx  # lightkube's HTTP library
        from lightkube import Client, KubeConfig
        from lightkube.core.exceptions import ConfigError

        from tars_tasks.deploy.kubeauth import (
            ExecCredentialAuth,
            KubeConfigError,
            check_user,
            install,
            kubeconfig_entry,
        )

        path = kubeconfig_path()
        where = f"kubeconfig {path or '(in-cluster)'}"
        try:
            config = KubeConfig.from_file(path) if path else KubeConfig.from_service_account()
            single = config.get(context_name=self.kube_context or None)
        except (ConfigError, OSError, ValueError) as exc:
            raise KubeError(f"{where}: {exc}") from None
        if single is None:
            raise KubeError(f"kubeconfig {path}: no context {self.kube_context or '(current)'}")
        auth = None
        if single.user is not None and path is not None:
            user = kubeconfig_entry(path, "users", single.context.user)
            check_user(user, where)
            if single.user.exec is not None and user.get("exec"):
                cluster = kubeconfig_entry(path, "clusters", single.context.cluster)
                auth = ExecCredentialAuth(user["exec"], where, path.parent, cluster)
                single = single._replace(user=replace(single.user, exec=None))  # lightkube runs no plugin
        try:
            client = Client(config=single, timeout=httpx.Timeout(self.timeout), field_manager="tars-tasks")
        except ConfigError as exc:
            raise KubeConfigError(f"{where}: {exc}") from None
        if auth is not None:
            install(client, auth, where)
        return client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import httpx
        from lightkube.core.exceptions import ApiError, ConfigError

        from tars_tasks.deploy.kubeauth import KubeConfigError

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:  # lightkube checks some of the kubeconfig only at the first request
            raise KubeConfigError(f"kubeconfig {kubeconfig_path() or '(in-cluster)'}: {exc}") from None
        except ApiError as exc:
            if exc.status.code == 404:
                return None
            raise KubeError(f"{what}: {exc.status.code} {exc.status.message}", exc.status.code or 0) from None
        except httpx.HTTPError as exc:
            raise KubeError(f"{what}: cluster not reachable: {exc}", transient=True) from None

    def tserver(self, namespace: str, name: str) -> dict[str, Any] | None:
        from lightkube.generic_resource import create_namespaced_resource

        version = self.api_version.rsplit("/", 1)[-1]
        resource = create_namespaced_resource(TARS_GROUP, version, "TServer", "tservers")
        obj = self._call(f"get TServer {name}", self.client().get, resource, name, namespace=namespace)
        return None if obj is None else _as_dict(obj)

    def annotate_tserver(self, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        """Merge ``annotations`` into a TServer's (None removes one)."""
        from lightkube.generic_resource import create_namespaced_resource
        from lightkube.types import PatchType

        version = self.api_version.rsplit("/", 1)[-1]
        resource = create_namespaced_resource(TARS_GROUP, version, "TServer", "tservers")
        self._call(f"annotate TServer {name}", self.client().patch, resource, name,
                   {"metadata": {"annotations": annotations}}, namespace=namespace, patch_type=PatchType.MERGE)

    def workload(self, namespace: str, name: str, daemon: bool) -> dict[str, Any] | None:
        from lightkube.resources.apps_v1 import DaemonSet, StatefulSet

        kind = DaemonSet if daemon else StatefulSet
        obj = self._call(f"get {kind.__name__} {name}", self.client().get, kind, name, namespace=namespace)
        return None if obj is None else _as_dict(obj)

    def pods(self, namespace: str, app: str, server: str) -> list[dict[str, Any]]:
        from lightkube.resources.core_v1 import Pod

        found = self._call(f"list pods of {app}.{server}", lambda: list(self.client().list(
            Pod, namespace=namespace, labels={APP_LABEL: app, SERVER_LABEL: server})))
        return [_as_dict(p) for p in found or []]

    def log_tail(self, namespace: str, pod: str, container: str, lines: int = 20) -> list[str]:
        """The container's last ``lines`` lines, split at newlines only: a carriage return (or any other control
        character) stays inside its line, to be escaped where it is shown, so a log cannot forge a line of ours.
        (lightkube's `log` splits like str.splitlines, at a bare \\r too, hence the raw text here.)"""
        text = self._call(f"log of {pod}", lambda: self._log_text(namespace, pod, container, lines))
        found = (text or "").split("\n")
        return found[:-1] if found and found[-1] == "" else found

    def _log_text(self, namespace: str, pod: str, container: str, lines: int) -> str:
        from lightkube.resources import core_v1

        generic = self.client()._client  # lightkube's own request path, as its Client.log takes it
        request = generic.prepare_request("get", core_v1.PodLog, name=pod, namespace=namespace,
                                          params={"tailLines": lines, "container": container})
        response = generic.send(generic.build_adapter_request(request))
        generic.raise_for_status(response)
        return str(response.text)

    def warning_events(self, namespace: str, uids: set[str]) -> list[dict[str, Any]]:
        """Warning events about any of the objects with these uids, oldest first: by uid, not name, so that the
        events of earlier pods of the same name (replaced ones) are not mixed in."""
        from lightkube.resources.core_v1 import Event

        found = self._call("list events", lambda: list(self.client().list(Event, namespace=namespace)))
        events = [_as_dict(e) for e in found or []]
        events = [e for e in events
                  if e.get("type") == "Warning" and (e.get("involvedObject") or {}).get("uid") in uids]
        return sorted(events, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def mark_rollout(self, namespace: str, release: str, revision: int, verdict: Verification) -> None:
        """Record on helm's record of ``revision`` what tracking proved of it (state/verification.py)."""
        from lightkube.resources.core_v1 import Secret
        from lightkube.types import PatchType

        name = f"sh.helm.release.v1.{release}.v{revision}"
        self._call(f"label {name}", self.client().patch, Secret, name, mark_patch(revision, verdict),
                   namespace=namespace, patch_type=PatchType.MERGE)

    def rollout_marks(self, namespace: str, release: str) -> dict[int, Verification]:
        """revision -> what tracking proved of it, for every revision helm still keeps of ``release``."""
        from lightkube.resources.core_v1 import Secret

        found = self._call(f"list revisions of {release}", lambda: list(self.client().list(
            Secret, namespace=namespace, labels={"owner": "helm", "name": release})))
        return marks((_as_dict(s).get("metadata") or {}).get("labels") or {} for s in found or [])

    # --- TConfig versions (deploy/configs.py): create, re-activate, delete ----------------------------------

    def _tars_resource(self, kind: str) -> Any:
        from lightkube.generic_resource import create_namespaced_resource

        return create_namespaced_resource(TARS_GROUP, self.api_version.rsplit("/", 1)[-1], kind, kind.lower() + "s")

    def create_tars(self, namespace: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create a TARS object (POST: never an update of one that exists). None: it already existed."""
        resource = self._tars_resource(str(obj["kind"]))
        try:
            made = self._call(f"create {obj['kind']} {obj['metadata']['name']}", self.client().create,
                              resource.from_dict(obj), namespace=namespace)
        except KubeError as exc:
            if exc.code == 409:
                return None
            raise
        return None if made is None else _as_dict(made)

    def patch_tars(self, namespace: str, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any] | None:
        """A JSON merge patch of a TARS object (None: it is gone)."""
        from lightkube.types import PatchType

        found = self._call(f"patch {kind} {name}", self.client().patch, self._tars_resource(kind), name, patch,
                           namespace=namespace, patch_type=PatchType.MERGE)
        return None if found is None else _as_dict(found)

    def delete_tars(self, namespace: str, kind: str, name: str) -> None:
        """Delete a TARS object (gone already: fine). A refusal (e.g. a webhook's) raises KubeError."""
        self._call(f"delete {kind} {name}", self.client().delete, self._tars_resource(kind), name, namespace=namespace)

    # --- whole namespaces, for `status`: ONE list call per kind, never one per service --------------------

    def list_tars(self, namespace: str, kind: str) -> list[dict[str, Any]]:
        """Every TServer or TImage (``kind``) in ``namespace``."""
        from lightkube.generic_resource import create_namespaced_resource

        version = self.api_version.rsplit("/", 1)[-1]
        resource = create_namespaced_resource(TARS_GROUP, version, kind, kind.lower() + "s")
        found = self._call(f"list {kind}s", lambda: list(self.client().list(resource, namespace=namespace)))
        return [_as_dict(o) for o in found or []]

    def list_workloads(self, namespace: str) -> list[dict[str, Any]]:
        """Every StatefulSet and DaemonSet in ``namespace`` (one list call each), with their kind set."""
        from lightkube.resources.apps_v1 import DaemonSet, StatefulSet

        out: list[dict[str, Any]] = []
        for kind in (StatefulSet, DaemonSet):
            found = self._call(f"list {kind.__name__}s",
                               lambda k=kind: list(self.client().list(k, namespace=namespace)))
            out += [{**_as_dict(o), "kind": kind.__name__} for o in found or []]
        return out

    def list_tars_pods(self, namespace: str) -> list[dict[str, Any]]:
        """Every pod of a TARS server in ``namespace`` (those with the tars.io/ServerApp label)."""
        from lightkube import operators
        from lightkube.resources.core_v1 import Pod

        found = self._call("list pods", lambda: list(self.client().list(Pod, namespace=namespace,
                                                                          labels={APP_LABEL: operators.exists()})))
        return [_as_dict(p) for p in found or []]

    def helm_records(self, namespace: str, status: str = "deployed") -> list[dict[str, Any]]:
        """helm's release records (its Secrets, the default storage) of one status in ``namespace``: one list
        call gives each release's stored values, manifest and labels (see operate/records.py)."""
        from lightkube.resources.core_v1 import Secret

        found = self._call("list helm release records", lambda: list(self.client().list(
            Secret, namespace=namespace, labels={"owner": "helm", "status": status})))
        return [_as_dict(s) for s in found or []]
