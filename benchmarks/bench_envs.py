"""Benchmark: `validate --all-envs` (3 environments, overlays on every service) against `validate` without
environments, over N services (issue target: at most 3.5x). Files only (schema, rules, graph): rendering
runs helm once per environment either way.

    python benchmarks/bench_envs.py [N]
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
from tars_tasks.project import Project, check_all_environments  # noqa: E402
from tars_tasks.validate.schema import validator  # noqa: E402

ENVS = ("dev", "staging", "prod")


def add_overlays(root: Path) -> None:
    """environments/<env>.yaml for each; values.prod.yaml on every service, values.staging.yaml on every third."""
    (root / "environments").mkdir()
    for env in ENVS:
        (root / "environments" / f"{env}.yaml").write_text("imagePullPolicy: IfNotPresent\n")
    for i, values in enumerate(sorted((root / "services").rglob("values.yaml"))):
        (values.parent / "values.prod.yaml").write_text("replicas: 3\nenvVars:\n  - name: LEVEL\n    value: warn\n")
        if i % 3 == 0:
            (values.parent / "values.staging.yaml").write_text("replicas: 1\n")


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(n: int = 1000, repeat: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp), n)
        plain = Settings.from_mapping({"root": str(root)})
        validator()  # compiled once per process, as in a real run
        base = median_time(lambda: Project.load(plain), repeat)
        add_overlays(root)
        per_env = [Settings.from_mapping({"root": str(root), "environments": {e: {} for e in ENVS}, "env": e})
                   for e in ENVS]
        problems, count = check_all_environments(per_env, [], render=False)
        assert count == n and problems == [], problems[:3]
        envs = median_time(lambda: check_all_environments(per_env, [], render=False), repeat)
        print(f"validate {n} services: {base:.3f} s; validate --all-envs ({len(ENVS)} environments, "
              f"{n + n // 3 + (n % 3 > 0)} overlays): {envs:.3f} s = {envs / base:.2f}x (target <= 3.5x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
