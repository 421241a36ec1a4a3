"""A minimal Kubernetes API server for helm's `lookup` (GET of TServer/TImage objects), on loopback.

It answers only what `helm template --dry-run=server` asks: /version, discovery, and GETs of the objects
it was given. Enough to test what the chart does with live objects; nothing else of a cluster.
"""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GROUP = "k8s.tars.io"
PLURALS = {"TServer": "tservers", "TImage": "timages", "TConfig": "tconfigs"}


class FakeKubeApi:
    def __init__(self, version: str = "v1beta3"):
        self.version = version
        self.objects: dict[str, dict] = {}
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                api.requests.append(path)
                gv = f"{GROUP}/{api.version}"
                answers = {
                    "/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.0", "platform": "linux/amd64"},
                    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
                    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
                    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                        {"name": GROUP, "versions": [{"groupVersion": gv, "version": api.version}],
                         "preferredVersion": {"groupVersion": gv, "version": api.version}}]},
                    f"/apis/{gv}": {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
                        {"name": plural, "singularName": kind.lower(), "namespaced": True, "kind": kind,
                         "verbs": ["get", "list"]} for kind, plural in PLURALS.items()]},
                }
                if path in answers:
                    return self._send(200, answers[path])
                if path in api.objects:
                    return self._send(200, api.objects[path])
                return self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "reason": "NotFound", "code": 404, "message": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def add(self, kind: str, namespace: str, name: str, body: dict, release: str) -> None:
        """An object as helm left it (with helm's ownership metadata for ``release``)."""
        obj = {"apiVersion": f"{GROUP}/{self.version}", "kind": kind, **body}
        meta = obj.setdefault("metadata", {})
        meta.update({"name": name, "namespace": namespace})
        meta.setdefault("labels", {})["app.kubernetes.io/managed-by"] = "Helm"
        meta.setdefault("annotations", {}).update({"meta.helm.sh/release-name": release,
                                                   "meta.helm.sh/release-namespace": namespace})
        self.objects[f"/apis/{GROUP}/{self.version}/namespaces/{namespace}/{PLURALS[kind]}/{name}"] = obj

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "users": [{"name": "fake", "user": {}}]}))
        return path

    def __enter__(self) -> FakeKubeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
