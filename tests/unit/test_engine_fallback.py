"""An engine that refuses BuildKit builds: the build falls back to the classic builder, says so in its log, and
later builds on that engine go to the classic builder at once. The engine is a small fake Engine API server on a
unix socket (no real engine here refuses BuildKit); it records every request."""
from __future__ import annotations

import json
import socket
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from support import copy_samples, free_port, init_git, sample_envs
from tars_tasks.core.settings import SERVER_TYPES, Settings
from tars_tasks.image.run import run_build
from tars_tasks.project import Project

BASE = "fake/base:1"


class FakeEngine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path):
        self.requests: list[tuple[str, str, dict]] = []
        self.drop_builds = False
        self.stall_builds = threading.Event()  # set: a build is accepted and never answered (a stopped engine)
        self.released = threading.Event()
        super().__init__(str(path), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeEngine

    def log_message(self, *args) -> None:  # no client address on a unix socket
        pass

    def reply(self, code: int, body: object, stream: bool = False) -> None:
        """JSON; a stream is a chunked response of one JSON message per chunk, as the engine sends it."""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if stream:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for message in body:
                data = json.dumps(message).encode() + b"\r\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            return
        data = json.dumps(body).encode()
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        self.server.requests.append(("GET", url.path, parse_qs(url.query)))
        if url.path.endswith("/version"):
            self.reply(200, {"ApiVersion": "1.41", "Os": "linux", "Version": "20.10.99-fake"})
        elif url.path.endswith(f"/images/{BASE}/json"):
            self.reply(200, {"Id": "sha256:" + "b" * 64, "Config": {"Labels": {}}})
        else:
            self.reply(404, {"message": "No such image"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append(("POST", url.path, query))
        if url.path.endswith("/build") and self.server.stall_builds.is_set():
            self.server.released.wait(120)  # holds the request, as a SIGSTOPped dockerd does
            self.close_connection = True
        elif url.path.endswith("/build") and self.server.drop_builds:  # the engine goes away mid-build
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"40\r\n{\"stream\": \"Step 1/2")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif url.path.endswith("/build") and query.get("version") == ["2"]:
            self.reply(400, {"message": "buildkit not supported by daemon"})
        elif url.path.endswith("/build"):
            self.reply(200, [{"stream": "Step 1/2 : FROM fake/base:1\n"}, {"stream": "Step 2/2 : COPY files/ x\n"},
                             {"aux": {"ID": "sha256:" + "c" * 64}}, {"stream": "Successfully built cccc\n"}],
                       stream=True)
        else:
            self.reply(404, {"message": "not here"})


@pytest.fixture
def engine(tmp_path):
    server = FakeEngine(tmp_path / "engine.sock")
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)  # shutdown() waits a poll
    thread.start()
    yield server, f"unix://{tmp_path}/engine.sock"
    server.shutdown()
    server.server_close()


def test_an_engine_without_buildkit_builds_with_the_classic_builder_and_the_log_says_so(tmp_path, engine):
    server, address = engine
    root = copy_samples(tmp_path / "mono")
    init_git(root)
    settings = Settings.from_mapping({"root": str(root), "registry": f"127.0.0.1:{free_port()}", "builders": address,
                                      "environments": sample_envs(), "base_images": {t: BASE for t in SERVER_TYPES}})
    services = Project.load(settings).select(["Base.HelloServer", "Base.LogServer"])
    said: list[tuple[str, str]] = []
    results = run_build(settings, services, push=False, jobs=1, progress=lambda s, m: said.append((s, m)))
    assert [(r.service, r.status.value, r.engine) for r in results] == [
        ("Base.HelloServer", "built", f"{address} (classic)"), ("Base.LogServer", "built", f"{address} (classic)")]
    builds = [q for method, path, q in server.requests if method == "POST" and path.endswith("/build")]
    # one refused BuildKit attempt, then the classic builder for both services (the engine is remembered)
    assert [q.get("version", [""])[0] for q in builds] == ["2", "", ""]
    first, second = (Path(r.log).read_text() for r in results)
    assert f"BuildKit refused by {address} (buildkit not supported by daemon): using the classic builder" in first
    assert "Step 2/2 : COPY files/ x" in first and "BuildKit refused" not in second
    assert ("Base.HelloServer", "Step 1/2 : FROM fake/base:1") in said
    # the classic build gets the labels in the Dockerfile (one LABEL), not as a query parameter
    assert "labels" not in builds[1]


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_an_engine_that_goes_away_mid_build_fails_that_build_with_a_message(tmp_path, engine, builder):
    server, address = engine
    server.drop_builds = True
    root = copy_samples(tmp_path / "mono")
    init_git(root)
    settings = Settings.from_mapping({"root": str(root), "registry": f"127.0.0.1:{free_port()}", "builders": address,
                                      "builder": builder, "environments": sample_envs(),
                                      "base_images": {t: BASE for t in SERVER_TYPES}})
    [result] = run_build(settings, Project.load(settings).select(["Base.HelloServer"]), push=False)
    assert result.status.value == "failed", result.reason
    assert result.reason.startswith(f"docker: connection to {address} ({builder.replace('buildkit', 'BuildKit')}) "
                                    "lost: "), result.reason
    assert "FAILED: docker: " in Path(result.log).read_text()


def test_with_builder_buildkit_an_engine_that_refuses_it_fails_the_build_instead(tmp_path, engine):
    server, address = engine
    root = copy_samples(tmp_path / "mono")
    init_git(root)
    settings = Settings.from_mapping({"root": str(root), "registry": f"127.0.0.1:{free_port()}", "builders": address,
                                      "builder": "buildkit", "environments": sample_envs(),
                                      "base_images": {t: BASE for t in SERVER_TYPES}})
    [result] = run_build(settings, Project.load(settings).select(["Base.HelloServer"]), push=False)
    assert (result.status.value, result.reason) == (
        "failed", f"{address} refuses BuildKit builds (buildkit not supported by daemon) and tars.builder is buildkit")


@pytest.mark.parametrize("builder", ["buildkit", "classic"])
def test_an_engine_that_stalls_mid_build_fails_it_at_build_timeout_for_the_whole_build(tmp_path, engine, builder):
    """Issue 22 item 13: a stopped engine accepts the build and never answers; the SDK's per-read timeout is
    10 minutes, so only the whole-build deadline (build.timeout) ends it."""
    import time

    server, address = engine
    server.stall_builds.set()
    root = copy_samples(tmp_path / "mono")
    values = root / "services/Base/HelloServer/values.yaml"
    values.write_text(values.read_text().replace("\nbuild:\n", "\nbuild:\n  timeout: 4s\n"))
    init_git(root)
    settings = Settings.from_mapping({"root": str(root), "registry": f"127.0.0.1:{free_port()}", "builders": address,
                                      "builder": builder, "environments": sample_envs(),
                                      "base_images": {t: BASE for t in SERVER_TYPES}})
    services = Project.load(settings).select(["Base.HelloServer"])
    found: list = []
    started = time.monotonic()
    runner = threading.Thread(target=lambda: found.extend(run_build(settings, services, push=False)), daemon=True)
    runner.start()
    runner.join(60)
    took = time.monotonic() - started
    server.released.set()
    assert not runner.is_alive(), "the build still hangs on the stalled engine"
    [result] = found
    assert result.status.value == "failed"
    assert result.reason == (f"build.timeout (4s, the whole build) passed during the image build: the engine "
                             f"{address} did not finish in time")
    assert 4 <= took < 20
    assert f"FAILED: {result.reason}" in Path(result.log).read_text()


def test_a_compile_step_past_build_timeout_is_named_as_the_part_that_ran_out_of_time(tmp_path, engine):
    """Review of issue 22 item 13: a slow build.command under `build.timeout: 3s` was reported as "the engine ...
    did not finish in time" although no engine call was running; the message names the compile step."""
    import time

    _, address = engine
    root = copy_samples(tmp_path / "mono")
    values = root / "services/Base/HelloServer/values.yaml"
    (root / "services/Base/HelloServer/build.sh").write_text("sleep 30\n")
    values.write_text(values.read_text().replace(
        '  command: ["cc", "-O2", "-static", "-o", "HelloServer", "main.c"]\n',
        '  command: ["sh", "build.sh"]\n  timeout: 3s\n'))
    init_git(root)
    settings = Settings.from_mapping({"root": str(root), "registry": f"127.0.0.1:{free_port()}", "builders": address,
                                      "environments": sample_envs(), "base_images": {t: BASE for t in SERVER_TYPES}})
    started = time.monotonic()
    [result] = run_build(settings, Project.load(settings).select(["Base.HelloServer"]), push=False)
    took = time.monotonic() - started
    assert result.status.value == "failed"
    assert result.reason == ("build.timeout (3s, the whole build) passed during the compile step: build.command "
                             "'sh build.sh' did not finish in time (killed)")
    assert 3 <= took < 15
