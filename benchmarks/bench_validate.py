"""Benchmark: discover + validate N services (issue target: <= 1.0 s for 1,000 on 2 cores), then render them.

    python benchmarks/bench_validate.py [N]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import make  # noqa: E402

from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.project import Project  # noqa: E402
from tars_tasks.validate.schema import validator  # noqa: E402


def main(n: int = 1000, repeat: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp), n)
        settings = Settings.from_mapping({"root": str(root)})
        validator()  # compiled once per process, as in a real run
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            project = Project.load(settings)
            times.append(time.perf_counter() - start)
        assert len(project.services) == n and not project.problems, project.problems[:3]
        print(f"discover+validate {n} services: median {statistics.median(times):.3f} s, "
              f"best {min(times):.3f} s over {repeat} runs")
        start = time.perf_counter()
        problems = project.check(project.services, render=True)
        rendered = time.perf_counter() - start
        assert problems == [], problems[:3]
        print(f"`invoke validate` rendering of {n} services (package + one helm template): {rendered:.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
