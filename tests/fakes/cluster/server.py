"""The HTTP face of the fake cluster: discovery, OpenAPI, and the REST verbs of every served resource."""
from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from . import patches, protobuf, resources
from .faults import RESET, Faults
from .record import Record, Request
from .resources import Resource
from .selectors import Predicate, SelectorError, field_selector, label_selector
from .store import ApiError, Store
from .webhooks import user_request

JSON = "application/json"
OPENAPI_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "fake", "gitTreeState": "clean",
           "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"}
LogProvider = Callable[[str, str, dict[str, str]], str]


@dataclass(frozen=True)
class Route:
    """A resource URL: /api/v1/namespaces/NS/pods/NAME/log and the like."""

    resource: Resource
    version: str
    namespace: str | None  # None: across all namespaces (or a cluster-scoped resource)
    name: str | None
    subresource: str


def parse_route(path: str) -> Route | None:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and resources.by_plural(group, version, rest[2]):
        namespace, rest = rest[1], rest[2:]
    resource = resources.by_plural(group, version, rest[0])
    if resource is None or len(rest) > 3:
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in resource.subresources:
        return None
    if not resource.namespaced:
        namespace = ""
    return Route(resource, version, namespace, name, subresource)


def _not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def _predicate(query: dict[str, str]) -> Predicate:
    try:
        labels, fields = label_selector(query.get("labelSelector", "")), field_selector(query.get("fieldSelector", ""))
    except SelectorError as e:
        raise ApiError.bad_request(str(e)) from e
    return lambda obj: labels(obj) and fields(obj)


def _versioned(obj: dict[str, Any], route: Route) -> dict[str, Any]:
    obj["apiVersion"] = route.resource.api_version(route.version)
    return obj


def _table(route: Route, items: list[dict[str, Any]], rv: int, include: str) -> dict[str, Any]:
    """The meta.k8s.io/v1 Table form (``kubectl get`` and ``helm status`` ask for it)."""
    def row(obj: dict[str, Any]) -> dict[str, Any]:
        cells = [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp", "")]
        if include == "None":
            return {"cells": cells}
        embedded = obj if include == "Object" else {
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        return {"cells": cells, "object": embedded}
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
               {"name": "Created At", "type": "date", "format": "", "description": "Creation time", "priority": 0}]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
            "columnDefinitions": columns, "rows": [row(_versioned(o, route)) for o in items]}


class _Listener(ThreadingHTTPServer):
    """A deep accept queue: helm and the tool's client open many connections at once, and with the default
    backlog of 5 a busy machine dropped SYNs (the client's retries then took tens of seconds)."""

    request_queue_size = 256
    daemon_threads = True

    def server_activate(self) -> None:
        super().server_activate()
        # a connection the client dropped between select() and accept() must not block the serving loop in a
        # blocking accept(); non-blocking, accept() raises and the loop goes on (accepted sockets stay blocking)
        self.socket.setblocking(False)


class ApiServer:
    """A ThreadingHTTPServer on 127.0.0.1 that answers like a Kubernetes API server."""

    def __init__(self, store: Store, record: Record, logs: LogProvider, port: int = 0):
        self.store, self.record, self.logs = store, record, logs
        self.faults = Faults()
        api = self

        class Handler(_Handler):
            server_api = api

        self.httpd = _Listener(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port: int = self.httpd.server_address[1]

    # --- dispatch ------------------------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any, str]:
        """(code, body, content type) for a non-streaming request; raises ApiError."""
        fixed = self._fixed(path, headers.get("accept", ""))
        if fixed is not None:
            return fixed
        route = parse_route(path)
        if route is None:
            raise _not_found_path()
        if method != "GET" and query.get("dryRun"):
            raise ApiError.bad_request("this fake API server does not support dryRun")
        handler = {"GET": self._get, "POST": self._post, "PUT": self._put, "PATCH": self._patch,
                   "DELETE": self._delete}.get(method)
        if handler is None:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported")
        with user_request():  # the framework's admission webhooks see requests, not the simulations' own writes
            return handler(route, query, headers, body)

    def _fixed(self, path: str, accept: str) -> tuple[int, Any, str] | None:
        """Version, health, discovery and OpenAPI documents."""
        aggregated = "as=APIGroupDiscoveryList" in accept
        path = path.rstrip("/") or "/"
        if path == "/version":
            return 200, VERSION, JSON
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok", "text/plain"
        if path in ("/api", "/apis"):
            if aggregated:
                return 200, resources.aggregated(core=path == "/api"), resources.AGGREGATED_TYPE
            return 200, resources.api_versions() if path == "/api" else resources.api_group_list(), JSON
        if path == "/openapi/v2":
            return 200, b"", OPENAPI_V2
        if path == "/openapi/v3":
            return 200, {"paths": {}}, JSON
        parts = path.strip("/").split("/")
        document = None
        if parts[0] == "api" and len(parts) == 2:
            document = resources.api_resource_list("", parts[1])
        elif parts[0] == "apis" and len(parts) == 2:
            document = resources.api_group(parts[1])
        elif parts[0] == "apis" and len(parts) == 3:
            document = resources.api_resource_list(parts[1], parts[2])
        return (200, document, JSON) if document is not None else None

    def _body(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        content_type = headers.get("content-type", JSON).split(";")[0].strip()
        try:
            if content_type == protobuf.CONTENT_TYPE:
                return protobuf.decode(body)
            if content_type == patches.APPLY:
                return yaml.safe_load(body) or {}
            return json.loads(body or b"{}")
        except (ValueError, yaml.YAMLError) as e:
            raise ApiError(415 if content_type == protobuf.CONTENT_TYPE else 400,
                           "UnsupportedMediaType" if content_type == protobuf.CONTENT_TYPE else "BadRequest",
                           f"cannot decode the {content_type} body: {e}") from e

    def _get(self, route: Route, query: dict[str, str], headers: dict[str, str], _body: bytes) -> tuple[int, Any, str]:
        table = "as=Table" in headers.get("accept", "")
        include = query.get("includeObject", "Metadata")
        if route.subresource == "log":
            obj = self.store.get(route.resource, route.namespace or "", route.name or "")
            return 200, self.logs(route.namespace or "", obj["metadata"]["name"], query), "text/plain"
        if route.name:
            obj = self.store.get(route.resource, route.namespace or "", route.name)
            if table:
                return 200, _table(route, [obj], self.store.rv, include), JSON
            return 200, _versioned(obj, route), JSON
        items, rv = self.store.list(route.resource, route.namespace, _predicate(query))
        if table:
            return 200, _table(route, items, rv, include), JSON
        return 200, {"kind": f"{route.resource.kind}List", "apiVersion": route.resource.api_version(route.version),
                     "metadata": {"resourceVersion": str(rv)},
                     "items": [_versioned(o, route) for o in items]}, JSON

    def _post(self, route: Route, _query: dict[str, str], headers: dict[str, str],
              body: bytes) -> tuple[int, Any, str]:
        if route.name:
            raise ApiError(405, "MethodNotAllowed", "POST is for collections")
        obj = self._body(headers, body)
        return 201, self.store.create(route.resource, route.namespace or "", obj, route.version), JSON

    def _put(self, route: Route, _query: dict[str, str], headers: dict[str, str],
             body: bytes) -> tuple[int, Any, str]:
        if not route.name:
            raise ApiError(405, "MethodNotAllowed", "PUT needs a name")
        obj = self._body(headers, body)
        if obj.get("metadata", {}).get("name") not in (None, route.name):
            raise ApiError.bad_request("the name of the object does not match the name on the URL")
        return 200, self.store.update(route.resource, route.namespace or "", route.name, obj, route.version,
                                      route.subresource), JSON

    def _patch(self, route: Route, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any, str]:
        if not route.name:
            raise ApiError(405, "MethodNotAllowed", "PATCH needs a name")
        content_type = headers.get("content-type", "").split(";")[0].strip()
        namespace = route.namespace or ""
        if content_type == patches.APPLY:
            manager = query.get("fieldManager")
            if not manager:
                raise ApiError(422, "Invalid", "fieldManager: Required value: is required for apply patch")
            obj, created = self.store.apply(route.resource, namespace, route.name, self._body(headers, body),
                                            manager, route.version, route.subresource)
            return (201 if created else 200), obj, JSON
        try:
            patch = json.loads(body or b"null")
        except ValueError as e:
            raise ApiError.bad_request(f"invalid patch body: {e}") from e
        if content_type in (patches.MERGE, patches.STRATEGIC):
            def patcher(live: dict[str, Any]) -> dict[str, Any]:
                return patches.merge_patch(live, patch)
        elif content_type == patches.JSON_PATCH:
            def patcher(live: dict[str, Any]) -> dict[str, Any]:
                try:
                    return patches.json_patch(live, patch)
                except patches.PatchError as e:
                    raise ApiError(422, "Invalid", str(e)) from e
        else:
            raise ApiError(415, "UnsupportedMediaType", f"the patch content type {content_type!r} is not supported")
        return 200, self.store.patch(route.resource, namespace, route.name, patcher, route.version,
                                     route.subresource), JSON

    def _delete(self, route: Route, query: dict[str, str], _headers: dict[str, str],
                _body: bytes) -> tuple[int, Any, str]:
        if route.name:
            return 200, _versioned(self.store.delete(route.resource, route.namespace or "", route.name), route), JSON
        items, _ = self.store.list(route.resource, route.namespace, _predicate(query))
        deleted = []
        for obj in items:
            try:
                deleted.append(self.store.delete(route.resource, obj["metadata"].get("namespace", ""),
                                                 obj["metadata"]["name"]))
            except ApiError:
                continue
        return 200, {"kind": f"{route.resource.kind}List", "apiVersion": route.resource.api_version(route.version),
                     "metadata": {"resourceVersion": str(self.store.rv)}, "items": deleted}, JSON

    # --- watch ---------------------------------------------------------------------------------------------

    def watch(self, route: Route, query: dict[str, str], send: Callable[[dict[str, Any]], None]) -> None:
        """Stream watch events through ``send`` until the timeout, the client leaving, or shutdown."""
        predicate = _predicate(query)
        if route.name:
            by_name = field_selector(f"metadata.name={route.name}")
            predicate = (lambda p: lambda obj: p(obj) and by_name(obj))(predicate)
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
        initial = query.get("sendInitialEvents") == "true"
        bookmarks = query.get("allowWatchBookmarks") == "true"
        items, rv = self.store.list(route.resource, route.namespace, predicate)
        if initial or query.get("resourceVersion", "0") in ("", "0"):
            for obj in items:
                send({"type": "ADDED", "object": _versioned(obj, route)})
        else:
            rv = int(query["resourceVersion"])
        if initial:
            send(self._bookmark(route, rv, initial_end=True))
        while not self.store.closed and not self.faults.down and time.monotonic() < deadline:
            changes = list(self.store.changes_after(rv, route.resource, route.namespace,
                                                    min(1.0, max(0.0, deadline - time.monotonic()))))
            if not changes and bookmarks:
                send(self._bookmark(route, self.store.rv))
            for change in changes:
                rv = change.rv
                if predicate(change.object):
                    send({"type": change.type, "object": _versioned(dict(change.object), route)})

    @staticmethod
    def _bookmark(route: Route, rv: int, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"type": "BOOKMARK", "object": {"kind": route.resource.kind,
                                               "apiVersion": route.resource.api_version(route.version),
                                               "metadata": meta}}

    # --- lifecycle -----------------------------------------------------------------------------------------

    def log_request(self, entry: Request) -> None:
        self.record.add(entry)


class _Handler(BaseHTTPRequestHandler):
    """One connection (HTTP/1.1, keep-alive); every request is answered by ``server_api``."""

    protocol_version = "HTTP/1.1"
    server_api: ApiServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle and delayed ACKs cost 40 ms a request
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *_args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self, method: str) -> None:
        api = self.server_api
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = self._read_body()
        started = time.monotonic()
        fault = api.faults.take(method, url.path)
        if fault is not None:  # a test asked this request to fail (tests/fakes/cluster/faults.py)
            self._log(api, started, method, url.path, query, headers, 0 if fault == RESET else int(fault))
            if fault == RESET:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            return self._send(int(fault), ApiError(int(fault), "InternalError" if fault == "500" else
                                                   "TooManyRequests", "injected fault").status(), JSON)
        route = parse_route(url.path) if method == "GET" else None
        if route and not route.subresource and query.get("watch") in ("1", "true"):
            try:
                _predicate(query)
            except ApiError as e:
                self._log(api, started, method, url.path, query, headers, e.code)
                return self._send(e.code, e.status(), JSON)
            self._log(api, started, method, url.path, query, headers, 200)
            return self._watch(api, route, query)
        try:
            code, payload, content_type = api.answer(method, url.path, query, headers, body)
        except ApiError as e:
            code, payload, content_type = e.code, e.status(), JSON
        self._log(api, started, method, url.path, query, headers, code)
        self._send(code, payload, content_type)

    @staticmethod
    def _log(api: ApiServer, started: float, method: str, path: str, query: dict[str, str],
             headers: dict[str, str], code: int) -> None:
        api.log_request(Request(started, method, path, query, headers.get("content-type", ""),
                                headers.get("accept", ""), headers.get("user-agent", ""), code))

    def _send(self, code: int, payload: Any, content_type: str) -> None:
        if isinstance(payload, bytes):
            data = payload
        elif isinstance(payload, str):
            data = payload.encode()
        else:
            data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, api: ApiServer, route: Route, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(event: dict[str, Any]) -> None:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()
        try:
            api.watch(route, query, send)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ApiError):
            self.close_connection = True


