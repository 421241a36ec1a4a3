"""Benchmark: `plan` and a no-op `release` over N services where nothing changed.

Targets (issue): plan <= 1.5 s and no-op release <= 3 s for 1,000 services, with zero docker builds and
zero helm upgrades. The cluster side is tests/fakes/helm (no Kubernetes here); its release list is filled
with what is deployed (one release per service, the chart the plan would deploy), as after a release.

    python benchmarks/bench_release.py [N]
Reports the library call (in process) and the whole `invoke` command (a new Python process).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from synth import make  # noqa: E402

from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.deploy.release import plan_only, release  # noqa: E402
from tars_tasks.plan.model import Options  # noqa: E402
from tars_tasks.project import Project  # noqa: E402


def timed(fn, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def main(n: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp) / "repo", n)
        shutil.copy(ROOT / "tasks.py", root / "tasks.py")
        (root / "invoke.yaml").write_text("tars:\n  namespace: bench\n  registry: 127.0.0.1:5999\n")
        for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                     ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"]):
            subprocess.run(argv, cwd=root, check=True, capture_output=True)
        state = Path(tmp) / "cluster"
        state.mkdir()
        real_helm = Settings.from_mapping({"root": str(ROOT)}).helm_binary()
        os.environ.update({"FAKE_HELM_DIR": str(state), "FAKE_HELM_REAL": real_helm})
        settings = Settings.from_mapping({"root": str(root), "namespace": "bench", "registry": "127.0.0.1:5999",
                                          "helm": str(ROOT / "tests/fakes/helm")})
        # what a finished release leaves in the cluster: the chart each service's plan would deploy
        project = Project.load(settings)
        planned = plan_only(project, Options(force_all=True, dry_run=True))
        releases = {p.chart.rsplit("-", 2)[0]: {"name": p.chart.rsplit("-", 2)[0], "namespace": "bench",
                                               "revision": "1", "status": "deployed", "chart": p.chart,
                                               "app_version": p.image.rsplit(":", 1)[1]} for p in planned.services}
        (state / "releases.json").write_text(json.dumps(releases))
        (state / "calls.jsonl").unlink(missing_ok=True)

        plan, t_plan = timed(lambda: plan_only(Project.load(settings), Options()))
        assert not any(p.changed for p in plan.services), [p.reasons for p in plan.services if p.changed][:3]
        (_, report), t_release = timed(lambda: release(Project.load(settings), Options()))
        assert {s.status for s in report.services} == {"unchanged"}
        calls = [json.loads(line)["argv"][0] for line in (state / "calls.jsonl").read_text().splitlines()]
        assert set(calls) == {"list"}, set(calls)

        env = {**os.environ, "INVOKE_TARS_HELM": str(ROOT / "tests/fakes/helm")}
        cli = [sys.executable, "-m", "invoke"]
        _, t_plan_cli = timed(lambda: subprocess.run(cli + ["plan", "--json"], cwd=root, env=env, check=True,
                                                     capture_output=True))
        _, t_release_cli = timed(lambda: subprocess.run(cli + ["release"], cwd=root, env=env, check=True,
                                                        capture_output=True))
        upgrades = [c for c in (json.loads(line)["argv"][0] for line in (state / "calls.jsonl").read_text().splitlines())
                    if c == "upgrade"]
        print(f"{n} services, nothing changed ({len(upgrades)} helm upgrades, 0 docker builds):")
        print(f"  plan     library {t_plan:.3f} s   `invoke plan --json` {t_plan_cli:.3f} s")
        print(f"  release  library {t_release:.3f} s   `invoke release`     {t_release_cli:.3f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
