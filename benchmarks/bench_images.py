"""Benchmark: fingerprint N services (a few files each) and check their tags in a registry.

    python benchmarks/bench_images.py [N] [REGISTRY]     (default 1000, 127.0.0.1:5000)
The monorepo is a git repository, as in real use (one `git ls-files` for all services).
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import make  # noqa: E402

from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.image.artifacts import resolve  # noqa: E402
from tars_tasks.image.registry import Registries  # noqa: E402
from tars_tasks.project import Project  # noqa: E402


def main(n: int = 1000, registry: str = "127.0.0.1:5000") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp), n)
        for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                     ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"]):
            subprocess.run(argv, cwd=root, check=True, capture_output=True)
        settings = Settings.from_mapping({"root": str(root), "registry": registry})
        project = Project.load(settings)
        start = time.perf_counter()
        artifacts = resolve(settings, project.services)
        fp = time.perf_counter() - start
        registries = Registries()
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            found = list(pool.map(lambda a: registries.has(a.image, a.tag), artifacts.values()))
        checks = time.perf_counter() - start
        print(f"fingerprint {n} services: {fp:.3f} s ({fp / n * 1000:.2f} ms/service, incl. one git ls-files)")
        print(f"registry existence checks for {n} tags ({sum(found)} present), 8 connections: {checks:.3f} s "
              f"({checks / n * 1000:.2f} ms/tag)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000, *(sys.argv[2:3]))
