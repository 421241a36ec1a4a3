"""A second docker engine for tests of the builder pool: a `dockerd` of the test's own, on its own socket,
data root, exec root and pidfile, removed with everything it made when the test module ends.

Its network is a bridge of its own (`tarsb<random>`, created here, deleted at the end), never `--bridge=none`:
an engine started with networking off deletes the *default* bridge `docker0`, which the main engine's
containers and RUN steps need. No iptables rules are written (`--iptables=false`, `--ip-masq=false`).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


class SecondEngine:
    def __init__(self) -> None:
        # a short path: a unix socket path is limited to 107 bytes
        self.dir = Path(tempfile.mkdtemp(prefix="tars-eng-", dir="/tmp"))
        self.address = f"unix://{self.dir}/docker.sock"
        self.bridge = f"tarsb{uuid.uuid4().hex[:8]}"  # at most 15 characters
        self.proc: subprocess.Popen | None = None
        self._log = open(self.dir / "dockerd.log", "wb")  # noqa: SIM115 (closed in stop)

    def start(self, timeout: float = 60.0) -> None:
        import docker

        (self.dir / "daemon.json").write_text("{}")  # never /etc/docker/daemon.json (hosts there would clash)
        subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
        self.proc = subprocess.Popen(
            ["dockerd", "--host", self.address, "--data-root", str(self.dir / "data"),
             "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "docker.pid"),
             "--config-file", str(self.dir / "daemon.json"), f"--bridge={self.bridge}", "--iptables=false",
             "--ip-masq=false"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client = docker.DockerClient(base_url=self.address, timeout=5)
                client.ping()
                client.close()
                return
            except Exception:  # not up yet
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "dockerd.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"the second dockerd did not start:\n{log}") from None
                time.sleep(0.2)

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.address, timeout=120)

    def load(self, main_client, *images: str) -> None:
        """Copy images from the main engine (`docker save | docker load`, through the SDK)."""
        second = self.client()
        try:
            for ref in images:
                second.images.load(b"".join(main_client.images.get(ref).save(named=True)))
        finally:
            second.close()

    def stop(self) -> None:
        """SIGTERM (dockerd stops its containerd and unmounts), SIGKILL to the whole group after 20 s; then the
        bridge and every file are removed. Safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # a containerd it left behind
        self.proc = None
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self._log.close()
        for mount in _mounts_below(self.dir):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def _mounts_below(folder: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[1] for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if p.startswith(str(folder) + "/")), key=len, reverse=True)
