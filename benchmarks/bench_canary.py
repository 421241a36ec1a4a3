"""Benchmark: what a canary of N steps adds over a plain deploy, against the fake cluster.

Target (issue 24): the added time is the canary's pauses plus at most 10% of the fake's pod delays. Both
deploys move the same 4 pods one at a time (each Ready ``delay`` seconds after it starts); the canary runs
25,50,100 with no pause, so everything it adds is its extra helm upgrades and the operator's reconciles.

    python benchmarks/bench_canary.py [DELAY_SECONDS] [ROUNDS]
Needs the docker engine and registry of the test suite (scripts/services.sh). Reports each service's
`rollout.seconds` (from before its helm upgrade to Ready) from the --json report.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from clustermono import ClusterMono, sample_in_cluster  # noqa: E402
from support import RegistryProcess  # noqa: E402

LOG = "Base.LogServer"
REPLICAS = 4


def main(delay: float = 1.0, rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = RegistryProcess(Path(tmp) / "registry")
        try:
            with sample_in_cluster(ClusterMono, Path(tmp), registry, ready_after=delay) as mono:
                values = mono.root / "services" / "Base" / "LogServer" / "values.yaml"
                values.write_text(values.read_text().replace("replicas: 2\n", f"replicas: {REPLICAS}\n"))
                assert mono.release("--service", LOG)[0].returncode == 0
                plain, canary = [], []
                for i in range(rounds):
                    for runs, args in ((plain, ()), (canary, ("--canary", "25,50,100"))):
                        (mono.root / "services" / "Base" / "LogServer" / "changed.txt").write_text(f"{i} {args}\n")
                        result, services = mono.release("--service", LOG, *args)
                        assert result.returncode == 0, result.stderr
                        runs.append(services[LOG]["rollout"]["seconds"])
        finally:
            registry.stop()
    pods = REPLICAS * delay
    added = statistics.median(canary) - statistics.median(plain)
    print(f"pod delay {delay}s x {REPLICAS} pods = {pods:.1f}s of pod delays; rounds {rounds}")
    print(f"plain deploy: median {statistics.median(plain):.2f}s {plain}")
    print(f"canary 25,50,100 (no pause): median {statistics.median(canary):.2f}s {canary}")
    print(f"added: {added:.2f}s = {100 * added / pods:.0f}% of the pod delays (target <= 10%)")


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:2]), *(int(a) for a in sys.argv[2:3]))
