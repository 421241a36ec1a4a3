"""Issue 22 item 14: `invoke build` on SIGTERM stops the compile step and its children (its process group)
before it exits 143, and still prints its report, as `release` does. The engine is a fake that only answers
`/version` and image lookups: the signal comes while the compile step runs, before any image build."""
from __future__ import annotations

import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from support import copy_samples, free_port, init_git, tool_env

BUILD_SH = """\
trap 'echo TERM >> trapped.log' TERM
echo $$ > build.pid
sleep 300 &
echo $! > child.pid
while true; do sleep 0.2; done
"""


class Engine(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        body = {"ApiVersion": "1.41", "Os": "linux"} if self.path.endswith("/version") else {"message": "No such image"}
        data = json.dumps(body).encode()
        self.send_response(200 if self.path.endswith("/version") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def engine(tmp_path):
    server = Engine(str(tmp_path / "engine.sock"), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"unix://{tmp_path}/engine.sock"
    server.shutdown()
    server.server_close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has ended; only its parent's wait is missing


def test_sigterm_stops_the_compile_step_and_its_children_before_build_exits(tmp_path, engine):
    root = copy_samples(tmp_path / "mono")
    folder = root / "services/Base/HelloServer"
    (folder / "build.sh").write_text(BUILD_SH)
    values = folder / "values.yaml"
    values.write_text(values.read_text().replace('command: ["cc", "-O2", "-static", "-o", "HelloServer", "main.c"]',
                                                 'command: ["sh", "build.sh"]'))
    init_git(root)
    env = tool_env({"INVOKE_TARS_BUILDERS": engine, "INVOKE_TARS_REGISTRY": f"127.0.0.1:{free_port()}/t"})
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "build", "--no-push", "--json", "--service",
                             "Base.HelloServer"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while not (folder / "child.pid").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (folder / "child.pid").exists(), proc.communicate(timeout=30)
    time.sleep(0.3)
    shell, child = int((folder / "build.pid").read_text()), int((folder / "child.pid").read_text())
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - started
    try:
        assert proc.returncode == 143, err
        assert not alive(shell) and not alive(child)  # stopped before the task exited, though it traps TERM
        assert (folder / "trapped.log").read_text() == "TERM\n"  # asked nicely first, killed after the grace
        assert took < 30
        [image] = json.loads(out)["images"]
        assert (image["service"], image["status"]) == ("Base.HelloServer", "interrupted")
        assert "interrupted by SIGTERM: 1 image(s) interrupted; a rerun continues" in err
    finally:
        for pid in (shell, child):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
