#!/usr/bin/env python3
"""Another user of the same docker engine and registries, to show the tests do not depend on being alone.

    python3 tests/noise.py [SECONDS]     (default: until interrupted; Ctrl-C or `kill PID` cleans up)

In a loop: builds throwaway images labelled like the tool's (io.tars-tasks.service / .fingerprint, with
service names of its own, Noise.*), tags them as 127.0.0.1:5000/noise/*, as 127.0.0.1:5000/<app>/<server>
of the sample services (what a tool run with the default settings makes), and in a registry process of its
own; pushes them to both registries, runs one, and removes some again. Prints one line per round.
"""
from __future__ import annotations

import contextlib
import io
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import docker
import docker.errors

from support import TEST_BASE_IMAGE, RegistryProcess, ensure_docker

SAMPLE_NAMES = ["base/authserver", "base/logserver", "base/helloserver", "shop/cartserver", "shop/payserver"]


def context(text: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("Dockerfile", f"FROM {TEST_BASE_IMAGE}\nCOPY noise.txt /noise.txt\n"),
                           ("noise.txt", text)):
            info = tarfile.TarInfo(name)
            info.size = len(data.encode())
            tar.addfile(info, io.BytesIO(data.encode()))
    return buf.getvalue()


def build(client: docker.DockerClient, refs: list[str], service: str) -> str:
    fingerprint = uuid.uuid4().hex
    stream = client.api.build(fileobj=io.BytesIO(context(fingerprint)), custom_context=True, tag=refs[0], rm=True,
                              pull=False, decode=True,
                              labels={"io.tars-tasks.service": service, "io.tars-tasks.fingerprint": fingerprint})
    for chunk in stream:
        if "error" in chunk:
            raise RuntimeError(chunk["error"])
    image = client.images.get(refs[0])
    for ref in refs[1:]:
        repo, tag = ref.rsplit(":", 1)
        image.tag(repo, tag)
    return image.id


def push(client: docker.DockerClient, ref: str) -> None:
    repo, tag = ref.rsplit(":", 1)
    for chunk in client.api.push(repo, tag=tag, stream=True, decode=True):
        if "error" in chunk:
            raise RuntimeError(f"push {ref}: {chunk['error']}")


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else float("inf")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill PID` cleans up as Ctrl-C does
    ensure_docker()
    client = docker.from_env(timeout=300)
    client.images.get(TEST_BASE_IMAGE)  # made by the test session (conftest.test_base_image) or setup
    workdir = Path(tempfile.mkdtemp(prefix="noise-registry-"))
    own = RegistryProcess(workdir)
    start, rounds = time.monotonic(), 0
    made: list[str] = []
    try:
        while time.monotonic() - start < seconds:
            rounds += 1
            tag = uuid.uuid4().hex[:12]
            name = SAMPLE_NAMES[rounds % len(SAMPLE_NAMES)]
            refs = [f"127.0.0.1:5000/noise/s{rounds % 4}:{tag}", f"127.0.0.1:5000/{name}:{tag}",
                    f"{own.host}/noise/s{rounds % 4}:{tag}", f"{own.host}/{name}:{tag}"]
            build(client, refs, f"Noise.S{rounds % 4}")
            for ref in refs:
                push(client, ref)
            if rounds % 3 == 0:
                client.containers.run(refs[0], ["cat", "/noise.txt"], remove=True)
            made += refs
            while len(made) > 40:  # keep the engine from filling up: remove the oldest
                with contextlib.suppress(docker.errors.APIError):
                    client.images.remove(made.pop(0))
            print(f"noise: round {rounds}: built and pushed {refs[0]} (+{len(refs) - 1} tags)", flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        own.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        for ref in made:
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(ref)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
