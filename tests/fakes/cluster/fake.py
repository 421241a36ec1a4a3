"""FakeCluster: the API server, its store, the operator simulation and the record, started and stopped together."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from .faults import Fault
from .kubelet import Outcome
from .operator import Operator
from .record import ObjectChange, PodTransition, Record, Request, ServerTransition
from .resources import by_kind
from .server import ApiServer
from .store import Store
from .tconfig_controller import DEFAULT_HISTORY, TConfigController
from .webhooks import DEFAULT_GUARD, Webhooks


class FakeCluster:
    """A Kubernetes API server on 127.0.0.1 with a simulated K8SFramework operator behind it.

    Use as a context manager. ``kubeconfig(path)`` writes a kubeconfig for helm or any client; outcomes set
    with ``set_outcome`` decide what becomes of the pods; ``record`` keeps what happened, in order.
    """

    def __init__(self, nodes: tuple[str, ...] = ("node-1", "node-2"), tick: float = 0.02,
                 namespaces: tuple[str, ...] = ("default", "kube-system"), default_outcome: Outcome | None = None,
                 tconfig_guard: float = DEFAULT_GUARD, tconfig_history: int = DEFAULT_HISTORY):
        """``tconfig_guard``: seconds an activated TConfig cannot be deleted after its creation (upstream: 48;
        tests shorten it); ``tconfig_history``: deactivated versions kept per config (recordLimit.tconfigHistory)."""
        self.record = Record()
        self.store = Store(namespaces)
        self.store.listeners.append(self.record.on_change)
        # K8SFramework itself: its admission webhooks, its TConfig controller, its TTemplates in every namespace
        self.webhooks = self.store.admission = Webhooks(self.store, tconfig_guard)
        self.tconfig_controller = TConfigController(self.store, tconfig_history)
        self.operator = Operator(self.store, self.record, nodes, tick)
        self.tconfig_controller.errors = self.operator.errors  # one list of the simulations' errors for the tests
        if default_outcome is not None:
            self.operator.default = default_outcome
        self.api = ApiServer(self.store, self.record, self.operator.pod_log)
        self.port = self.api.port
        self.url = f"http://127.0.0.1:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> FakeCluster:
        self._serving = threading.Thread(target=self._serve, name="fake-apiserver", daemon=True)
        self._serving.start()
        self.operator.start()
        self.tconfig_controller.start()
        return self

    def _serve(self) -> None:
        """Serve until stopped; an error in the loop itself (not in a request) is recorded and serving goes on."""
        while True:
            try:
                self.api.httpd.serve_forever(poll_interval=0.05)
                return
            except Exception as exc:  # noqa: BLE001 - a fake server must not silently stop answering
                self.operator.errors.append(f"api server loop: {exc!r}")

    def stop(self) -> None:
        self.tconfig_controller.stop()
        self.operator.stop()
        self.store.close()
        # shutdown() waits for the serving loop; bounded, so that a loop that died cannot hang the test run
        stopper = threading.Thread(target=self.api.httpd.shutdown, name="fake-apiserver-stop", daemon=True)
        stopper.start()
        stopper.join(timeout=10)
        self.api.httpd.server_close()

    def __enter__(self) -> FakeCluster:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- configuration -------------------------------------------------------------------------------------

    def kubeconfig(self, path: Path, context: str = "fake", *, current: bool | None = None,
                   namespace: str | None = None) -> Path:
        """Write (or add to) a kubeconfig with a context ``context`` for this cluster; returns ``path``.

        An existing file keeps its other contexts, so two fake clusters can share one kubeconfig under two
        context names. The context becomes current when ``current`` is true, or when it is None and the file
        had no current context.
        """
        config: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [],
                                  "users": [], "preferences": {}}
        if path.exists():
            config = yaml.safe_load(path.read_text()) or config
        entry: dict[str, Any] = {"cluster": context, "user": context}
        if namespace:
            entry["namespace"] = namespace
        for section, value in (("clusters", {"server": self.url}), ("contexts", entry), ("users", {})):
            items = [i for i in config.get(section) or [] if i.get("name") != context]
            key = {"clusters": "cluster", "contexts": "context", "users": "user"}[section]
            config[section] = [*items, {"name": context, key: value}]
        if current or (current is None and not config.get("current-context")):
            config["current-context"] = context
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def set_outcome(self, key: str, outcome: Outcome) -> None:
        """What becomes of pods: ``key`` is "pod:NAME" (one pod), "env:NAME=VALUE" (a plain env value of the
        container), a release id, an image, "namespace/name" or a TServer/workload name.

        A pod takes the first outcome set for its name, then its env values, then its release id, then its image, then its server;
        else the default. An env key makes the outcome per revision: a values-only change can break (or fix) pods.
        """
        self.operator.outcomes[key] = outcome

    def set_default_outcome(self, outcome: Outcome) -> None:
        self.operator.default = outcome

    def go_down(self) -> None:
        """The API server dies: every request from now on, on new and open connections alike, is reset."""
        self.api.faults.down = True

    def fail_request(self, path: str, nth: int = 1, kind: str = "500", method: str = "GET") -> Fault:
        """The ``nth`` next ``method`` request to a path starting with ``path`` fails once: answered ``kind``
        ("500", "429") or its connection reset ("reset"). ``.fired`` on the result tells whether it happened."""
        return self.api.faults.add(path, nth, kind, method)

    # --- objects -------------------------------------------------------------------------------------------

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The live objects of a kind ("TServer", "pods", "sts"...), in a namespace or all."""
        return self.store.list(by_kind(kind), namespace)[0]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.store.find(by_kind(kind), namespace, name)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Put an object into the store directly (as if someone else had created it)."""
        resource = by_kind(obj["kind"])
        version = obj.get("apiVersion", "").rsplit("/", 1)[-1] or None
        return self.store.create(resource, obj["metadata"].get("namespace", ""), obj, version)

    def events(self, namespace: str, involved: str | None = None) -> list[dict[str, Any]]:
        """Events in a namespace, optionally only those about an object whose name starts with ``involved``."""
        return [e for e in self.objects("Event", namespace)
                if involved is None or e["involvedObject"]["name"].startswith(involved)]

    # --- the record ----------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        return self.record.snapshot()[0]

    @property
    def changes(self) -> list[ObjectChange]:
        return self.record.snapshot()[1]

    @property
    def pod_transitions(self) -> list[PodTransition]:
        return self.record.snapshot()[2]

    @property
    def server_transitions(self) -> list[ServerTransition]:
        return self.record.snapshot()[3]

    def first_created(self, kind: str, name: str, namespace: str | None = None) -> float | None:
        """When an object of this kind and name was first created (monotonic seconds), or None."""
        wanted = by_kind(kind).kind
        return next((c.time for c in self.changes if c.type == "ADDED" and c.kind == wanted and c.name == name
                     and namespace in (None, c.namespace)), None)

    def ready_since(self, server: str, namespace: str | None = None) -> float | None:
        """Since when the TServer's current spec is fully rolled out and Ready (monotonic seconds); None if not."""
        last = None
        for t in self.server_transitions:
            if t.server == server and namespace in (None, t.namespace):
                last = t
        return last.time if last is not None and last.ready else None

    def wait_for(self, condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
        """Poll ``condition`` until it returns something truthy; raise TimeoutError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s; operator errors: {self.operator.errors}")
            time.sleep(interval)
