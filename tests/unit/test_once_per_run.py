"""Work done once per run, not once per service: a registry that does not answer costs one timeout, and
`helm version` runs once per binary however many threads ask."""
from __future__ import annotations

import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tars_tasks.core.helm import Helm
from tars_tasks.image.registry import Registry, RegistryError


class Silent:
    """A TCP server that accepts connections, counts them, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def errors_of(registry: Registry, count: int) -> list[str]:
    out = []
    for i in range(count):
        with pytest.raises(RegistryError) as exc:
            registry.has_tag(f"team/svc{i}", "abc")
        out.append(str(exc.value))
    return out


def test_a_registry_that_never_answers_costs_one_timeout_and_every_check_says_the_same():
    server = Silent()
    try:
        registry = Registry(f"127.0.0.1:{server.port}", timeout=0.3)
        messages = errors_of(registry, 20)
        assert messages == [f"registry 127.0.0.1:{server.port} unreachable: timed out"] * 20
        assert len(server.accepted) == 1  # the other 19 checks never connected
    finally:
        server.close()


def test_a_refused_connection_marks_the_host_down_for_the_run():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens: connections are refused
    registry = Registry(f"127.0.0.1:{port}", timeout=5)
    first = errors_of(registry, 1)
    assert first == [f"registry 127.0.0.1:{port} unreachable: Connection refused"]
    late = socket.socket()  # the registry comes up: this run still does not ask it again
    late.bind(("127.0.0.1", port))
    late.listen(4)
    late.settimeout(0.2)
    try:
        assert errors_of(registry, 5) == first * 5
        with pytest.raises(socket.timeout):
            late.accept()
    finally:
        late.close()


def test_threads_checking_a_silent_registry_at_once_all_fail_with_one_message():
    server = Silent()
    try:
        registry = Registry(f"127.0.0.1:{server.port}", timeout=0.3)

        def check(i: int) -> str:
            try:
                registry.has_tag(f"team/svc{i}", "abc")
            except RegistryError as exc:
                return str(exc)
            return "answered"

        with ThreadPoolExecutor(8) as pool:
            messages = list(pool.map(check, range(200)))
        assert set(messages) == {f"registry 127.0.0.1:{server.port} unreachable: timed out"}
        assert len(server.accepted) <= 8  # at most one connection per worker thread, not one per image
    finally:
        server.close()


def test_a_token_service_that_does_not_answer_marks_its_registry_down():
    realm_port = closed_port()
    requests: list[str] = []

    class Challenging(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
            requests.append(self.path)
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{realm_port}/token",service="r"')
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Challenging)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)  # shutdown() waits a poll
    thread.start()
    try:
        registry = Registry(f"127.0.0.1:{server.server_address[1]}", timeout=2)
        messages = errors_of(registry, 10)
        assert messages == [f"registry 127.0.0.1:{server.server_address[1]}: its token service "
                            f"127.0.0.1:{realm_port} is unreachable: Connection refused"] * 10
        assert requests == ["/v2/team/svc0/manifests/abc"]  # one challenge, then down for the run
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_helm_version_runs_once_per_binary_however_many_threads_ask(tmp_path: Path):
    calls = tmp_path / "calls"
    helm = tmp_path / "helm"
    helm.write_text(f"#!/bin/sh\necho called >> {calls}\nsleep 0.2\necho v3.15.0+g1234\n")
    helm.chmod(0o755)
    with ThreadPoolExecutor(8) as pool:
        majors = list(pool.map(lambda _: Helm(str(helm)).major(), range(16)))
    assert majors == [3] * 16
    assert calls.read_text().splitlines() == ["called"]
