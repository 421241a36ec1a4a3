"""Benchmark: image builds through BuildKit against the docker CLI with BuildKit, and against the classic builder.

    python benchmarks/bench_buildkit.py [N] [ROUNDS]     (default 30 services, 5 rounds; median reported)

Measured in the same run, on the same engine, with the same build contexts (ours, written out to folders for
the CLI), no push:
- first build of N services, two at a time, from a cold BuildKit cache (`docker builder prune -a` and the
  images removed before each run): `run_build(jobs=2)` (fingerprints, registry checks, contexts, builds)
  against `DOCKER_BUILDKIT=1 docker build` of the N context folders, two at a time. The peer is the first
  docker CLI on PATH that builds with BuildKit (a docker 20.10 CLI has BuildKit built in; a newer one needs
  the buildx plugin); when none can, the raw Engine API call (`/build?version=2`, requests) is the floor;
- rebuild after one service's file changed: ours (all N checked, one built) against the CLI building that
  one context; the whole `invoke build` command (a new Python process) is reported too;
- the same first build through BuildKit and through the classic builder (`tars.builder: classic`).
Engine CPU is the CPU time of dockerd and containerd during each run (the classic builder also runs a
container per instruction, outside both: its real cost is higher than shown).
Targets (issue 13): first build <= 1.15x the peer; rebuild of one <= 3x the peer.
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from synth import make  # noqa: E402

from tars_tasks.core.files import FileLister  # noqa: E402
from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.image.artifacts import resolve  # noqa: E402
from tars_tasks.image.images import build_context  # noqa: E402
from tars_tasks.image.run import run_build  # noqa: E402
from tars_tasks.project import Project  # noqa: E402


def engine_cpu() -> float:
    """CPU seconds used so far by dockerd and its children (containerd)."""
    try:
        pid = int(Path("/var/run/docker.pid").read_text())
    except (OSError, ValueError):
        return 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(p) for p in (task / "children").read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def run(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, start = engine_cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - start, engine_cpu() - cpu


def find_peer(client, context: Path) -> list[str] | None:
    """argv of a docker CLI that builds with BuildKit here, or None."""
    seen = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        cli = Path(folder) / "docker"
        if not cli.is_file() or cli.resolve() in seen:
            continue
        seen.add(cli.resolve())
        probe = subprocess.run([str(cli), "build", "-q", "-t", "tars-bench-probe:1", str(context)],
                               env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True)
        if probe.returncode == 0:
            client.images.remove("tars-bench-probe:1", force=True)
            return [str(cli)]
    return None


class Bench:
    """A synthetic monorepo of N services, our builds of it, and the peer's builds of the same contexts."""

    def __init__(self, tmp: Path, n: int):
        import docker

        self.tmp, self.n = tmp, n
        self.client = docker.from_env(timeout=600)
        self.prefix = f"127.0.0.1:5000/bench-{uuid.uuid4().hex[:8]}"
        self.root = make(tmp / "mono", n)
        shutil.copy(ROOT / "tasks.py", self.root / "tasks.py")
        for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                     ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"]):
            subprocess.run(argv, cwd=self.root, check=True, capture_output=True)
        self.services = Project.load(self.settings()).services
        self.lister = FileLister(self.root)
        self.contexts = self.peer_contexts()
        self.peer = find_peer(self.client, next(iter(self.contexts.values()))[1])
        self.peer_name = f"`{self.peer[0]} build` (DOCKER_BUILDKIT=1)" if self.peer else \
            "Engine API /build?version=2 (floor)"

    def settings(self, builder: str = "auto") -> Settings:
        return Settings.from_mapping({"root": str(self.root), "registry": self.prefix, "builder": builder,
                                      "log_dir": str(self.tmp / "logs")})

    def peer_contexts(self) -> dict[str, tuple[str, Path]]:
        """(peer tag, context folder) per service, written from our build context."""
        out = {}
        for sid, art in resolve(self.settings(), self.services, None, self.lister).items():
            folder = self.tmp / "peer" / sid
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(build_context(art, self.root, self.lister))) as tar:
                tar.extractall(folder, filter="data")
            out[sid] = (f"{self.prefix}/peer/{sid.lower()}:{art.tag}", folder)
        return out

    def peer_build(self, tag: str, folder: Path) -> None:
        if self.peer:
            subprocess.run([*self.peer, "build", "-q", "-t", tag, str(folder)], check=True, capture_output=True,
                           env={**os.environ, "DOCKER_BUILDKIT": "1"})
            return
        tar = io.BytesIO()
        with tarfile.open(fileobj=tar, mode="w") as t:
            t.add(folder, arcname=".")
        api = self.client.api
        response = api._post(api._url("/build"), params={"t": tag, "version": "2"}, data=tar.getvalue(),
                             stream=True, headers={"Content-Type": "application/x-tar"})
        for chunk in api._stream_helper(response, decode=True):
            assert "error" not in chunk, chunk

    def peers(self) -> None:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda item: self.peer_build(*item), self.contexts.values()))

    def ours(self, builder: str = "auto") -> None:
        results = run_build(self.settings(builder), self.services, push=False, jobs=2)
        bad = [r.summary() for r in results if r.status.value not in ("built", "local")]
        assert not bad, bad

    def cli(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "INVOKE_TARS_REGISTRY": self.prefix,
               "INVOKE_TARS_LOG_DIR": str(self.tmp / "logs")}
        subprocess.run([sys.executable, "-m", "invoke", "build", "--no-push", "--jobs", "2"], cwd=self.root,
                       env=env, check=True, capture_output=True)

    def cold(self) -> None:
        """No image of this benchmark and no BuildKit cache left on the engine."""
        for image in self.client.images.list():
            for tag in image.tags:
                if tag.startswith(self.prefix + "/"):
                    self.client.images.remove(tag, force=True)
        self.client.api.prune_builds(all=True)


def main(n: int = 30, rounds: int = 5) -> None:
    import docker

    first: dict[str, list[tuple[float, float]]] = {"ours": [], "peer": [], "classic": []}
    rebuild: dict[str, list[float]] = {"ours": [], "peer": [], "cli": []}
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), n)
        changed = bench.services[n // 2]
        for r in range(rounds):
            order = [("peer", bench.peers), ("ours", bench.ours), ("classic", lambda: bench.ours("classic"))]
            if r % 2:  # each goes first in every other round (the machine is shared: load comes and goes)
                order[:2] = order[1::-1]
            for name, fn in order:
                bench.cold()
                first[name].append(run(fn))
            bench.cold()
            bench.ours()
            bench.peers()
            (changed.dir / "main.sh").write_text(f"#!/bin/sh\necho changed {r}\n")
            rebuild["ours"].append(run(bench.ours)[0])
            tag, folder = bench.peer_contexts()[changed.id]
            rebuild["peer"].append(run(functools.partial(bench.peer_build, tag, folder))[0])
            (changed.dir / "main.sh").write_text(f"#!/bin/sh\necho changed again {r}\n")
            rebuild["cli"].append(run(bench.cli)[0])
        bench.cold()
        peer_name = bench.peer_name
        bench.client.close()

    def med(values: list[tuple[float, float]], i: int) -> float:
        return statistics.median(v[i] for v in values)

    def best(name: str) -> float:
        return min(v[0] for v in first[name])

    print(f"peer: {peer_name}; {n} services, median of {rounds} rounds, engine "
          f"{docker.from_env().version()['Version']}, {os.cpu_count()} cores\n")
    print("| work | tars-tasks | peer | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| first build of {n}, 2 at a time | {med(first['ours'], 0):.2f} s (engine CPU {med(first['ours'], 1):.1f} s) "
          f"| {med(first['peer'], 0):.2f} s (engine CPU {med(first['peer'], 1):.1f} s) "
          f"| {med(first['ours'], 0) / med(first['peer'], 0):.2f}x | <= 1.15x |")
    print(f"| the same, fastest round of each side | {best('ours'):.2f} s | {best('peer'):.2f} s "
          f"| {best('ours') / best('peer'):.2f}x | |")
    ours_rb, peer_rb, cli_rb = (statistics.median(rebuild[k]) for k in ("ours", "peer", "cli"))
    print(f"| rebuild of 1 changed (of {n}) | {ours_rb:.2f} s | {peer_rb:.2f} s | {ours_rb / peer_rb:.2f}x | <= 3x |")
    print(f"| the same, whole `invoke build --no-push` | {cli_rb:.2f} s | {peer_rb:.2f} s | {cli_rb / peer_rb:.2f}x | |")
    print(f"| first build of {n}: BuildKit / classic builder | {med(first['ours'], 0):.2f} s "
          f"(engine CPU {med(first['ours'], 1):.1f} s) | {med(first['classic'], 0):.2f} s "
          f"(engine CPU {med(first['classic'], 1):.1f} s) | {med(first['ours'], 0) / med(first['classic'], 0):.2f}x | |")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
