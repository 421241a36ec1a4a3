"""Benchmark: package N charts with tars-tasks, and the same charts with `helm package`, in one run.

Issue target: <= 5 ms per chart (upstream's script ~650 ms, `helm package` ~35 ms).

    python benchmarks/bench_charts.py [N] [HELM_SAMPLE]
`helm package` is timed on HELM_SAMPLE charts (default 50) and reported per chart.
"""
from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import make  # noqa: E402

from tars_tasks.chart.package import load_template, package  # noqa: E402
from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.project import Project  # noqa: E402


def main(n: int = 1000, helm_sample: int = 50) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp) / "repo", n)
        settings = Settings.from_mapping({"root": str(root)})
        project = Project.load(settings)
        load_template()
        out = Path(tmp) / "ours"
        start = time.perf_counter()
        paths = [package(s, settings, "v1.0.0", out)[1] for s in project.services]
        ours = (time.perf_counter() - start) / n
        # helm package on the same charts: unpack ours into folders, then package each with helm
        helm = settings.helm_binary()
        dirs = []
        for p in paths[:helm_sample]:
            dest = Path(tmp) / "unpacked" / p.stem
            with tarfile.open(p) as tar:
                tar.extractall(dest, filter="data")
            dirs.append(next(dest.iterdir()))
        start = time.perf_counter()
        for d in dirs:
            subprocess.run([helm, "package", str(d), "-d", str(Path(tmp) / "helm")], check=True,
                           capture_output=True)
        theirs = (time.perf_counter() - start) / len(dirs)
        print(f"tars-tasks package: {ours * 1000:.2f} ms/chart over {n} charts ({ours * n:.2f} s total)")
        print(f"helm package:       {theirs * 1000:.2f} ms/chart over {len(dirs)} charts")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
