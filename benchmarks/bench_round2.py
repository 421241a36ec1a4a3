"""Benchmark: issue 23 (performance, round 2), each cost a ratio to a floor or peer measured in the same run.

    python benchmarks/bench_round2.py [--sizes 300,1000,3000,10000] [--repeat 5] [--before REF] [--skip-before]

- `invoke template --service X` and `invoke validate --no-render --service X` at each size, X mid-repository
  (a dependsOn chain of size/20 services): CPU against the same command at the smallest size (target at 10k:
  <= 1.2x of at 300). The index of values files (dist/cache/values-index.json) is warm, as after any earlier
  run; the first run at the largest size (cold, no index) is shown too;
- `invoke template --service X` at 1k against `helm template` of X's packaged chart, and against the floor the
  issue sets: invoke's own start (a tasks.py with one empty task) + 3x `helm template`;
- `invoke validate --no-render` of 1k services against a python reading the same files with libyaml's
  CSafeLoader (target <= 3x CPU);
- `invoke --list` against invoke with an empty tasks.py (target <= 1.2x).

Every command is a new process (this checkout first on PYTHONPATH; ``--before REF``: the code of that git ref
of this repository, for the "before" column). Subject and peer run in turn and medians are shown, wall and CPU
(the process and the children it waited for: helm included); the machine is shared, so CPU is the steadier
figure, and the load average is printed. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import atexit
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import synth_scale  # noqa: E402

from tars_tasks.chart.package import package  # noqa: E402
from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.image.artifacts import resolve  # noqa: E402
from tars_tasks.project import Project  # noqa: E402

PYCACHE = tempfile.mkdtemp(prefix="tars-bench-pycache-")  # bytecode kept, as for an installed package
atexit.register(shutil.rmtree, PYCACHE, True)
FLOOR = """import os, sys, yaml
for top, _, names in os.walk(sys.argv[1]):
    if "values.yaml" in names:
        with open(os.path.join(top, "values.yaml"), "rb") as fh:
            yaml.load(fh.read(), Loader=yaml.CSafeLoader)
"""


@dataclass
class Cost:
    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.3f} s ({self.cpu:.3f} CPU-s)"


def env(code: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**base, "PYTHONPYCACHEPREFIX": PYCACHE, "PYTHONPATH": str(code), **extra}


def run(argv: list[str], cwd: Path, environ: dict[str, str]) -> Cost:
    """One command, which must succeed: wall and CPU seconds (with every child it waited for)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(argv)}` failed in {cwd}: {proc.stderr[-2000:]}")
    return Cost(wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))


def turns(fns: list[Callable[[], Cost]], repeat: int) -> list[Cost]:
    """Medians of each of ``fns``, run in turn ``repeat`` times after one warm-up run each (load from other
    jobs falls on all alike)."""
    runs: list[list[Cost]] = [[] for _ in fns]
    for fn in fns:
        fn()  # a warm-up run of each, not counted (bytecode written, files in the page cache)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            runs[i].append(fn())
    return [Cost(statistics.median(c.wall for c in r), statistics.median(c.cpu for c in r)) for r in runs]


class Repo:
    def __init__(self, root: Path, n: int):
        self.root = synth_scale.project(root, n, "127.0.0.1:5000")
        self.n = n
        self.helm = Settings.from_mapping({"root": str(ROOT)}).helm_binary()
        self.sid = f"App{(n // 2) % 10}.Server{n // 2}"

    def invoke(self, code: Path, *args: str) -> Cost:
        return run([sys.executable, "-m", "invoke", *args], self.root, env(code, INVOKE_TARS_HELM=self.helm))

    def settings(self) -> Settings:
        return Settings.from_mapping({"root": str(self.root), "registry": "127.0.0.1:5000", "helm": self.helm})


def before_code(ref: str, tmp: Path) -> Path:
    dest = tmp / f"before-{ref}"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", ref, "tars_tasks", "schema", "helm-template"], cwd=ROOT,
                             check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def ratio(a: Cost, b: Cost) -> str:
    return f"{a.wall / b.wall:.2f}x wall, {a.cpu / b.cpu:.2f}x CPU"


def scale_rows(repos: dict[int, Repo], codes: dict[str, Path], repeat: int) -> list[list[str]]:
    rows = []
    small = min(repos)
    for label, code in codes.items():
        for task in (["template"], ["validate", "--no-render"]):
            for repo in repos.values():  # warm the index (and the bytecode) once
                repo.invoke(code, *task, "--service", repo.sid)
            costs = dict(zip(repos, turns([partial(r.invoke, code, *task, "--service", r.sid)
                                           for r in repos.values()], repeat)))
            for n, cost in costs.items():
                rows.append([f"`{' '.join(task)} --service X`, {n:,} services ({label})", str(cost),
                             f"itself at {small:,}: {costs[small]}", ratio(cost, costs[small]),
                             "<= 1.2x CPU at 10k" if n == max(repos) else ""])
    return rows


def cold_row(tmp: Path, n: int) -> list[str]:
    repo = Repo(tmp / f"cold{n}", n)
    cold = repo.invoke(ROOT, "template", "--service", repo.sid)
    warm = repo.invoke(ROOT, "template", "--service", repo.sid)
    return [f"`template --service X`, {n:,} services, first run (no index yet)", str(cold),
            f"the next run: {warm}", ratio(cold, warm), ""]


def helm_rows(repo: Repo, tmp: Path, codes: dict[str, Path], repeat: int) -> list[list[str]]:
    settings = repo.settings()
    project = Project.load_selected(settings, [repo.sid])
    service = project.select([repo.sid])[0]
    _, chart = package(service, settings, resolve(settings, [service])[repo.sid].tag, tmp / "chart")
    helm = [repo.helm, "template", service.name, str(chart), "--namespace", settings.namespace]
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    (empty / "tasks.py").write_text("from invoke import task\n\n\n@task\ndef nothing(c):\n    pass\n")
    rows = []
    for label, code in codes.items():
        ours, peer, start = turns([partial(repo.invoke, code, "template", "--service", repo.sid),
                                   partial(run, helm, repo.root, env(code)),
                                   partial(run, [sys.executable, "-m", "invoke", "nothing"], empty, env(code))], repeat)
        floor = Cost(start.wall + 3 * peer.wall, start.cpu + 3 * peer.cpu)
        rows.append([f"`template --service X`, {repo.n:,} services ({label})", str(ours),
                     f"`helm template` of X's chart: {peer}", ratio(ours, peer), ""])
        rows.append([f"the same ({label})", str(ours), f"invoke's own start + 3x `helm template`: {floor}",
                     ratio(ours, floor), "<= 1x"])
    return rows


def validate_rows(repo: Repo, tmp: Path, codes: dict[str, Path], repeat: int) -> list[list[str]]:
    script = tmp / "floor.py"
    script.write_text(FLOOR)
    rows = []
    for label, code in codes.items():
        ours, floor = turns([partial(repo.invoke, code, "validate", "--no-render"),
                             partial(run, [sys.executable, str(script), "services"], repo.root, env(code))], repeat)
        rows.append([f"`validate --no-render`, {repo.n:,} services ({label})", str(ours),
                     f"python + CSafeLoader over the same files: {floor}", ratio(ours, floor), "<= 3x CPU"])
    return rows


def list_rows(repo: Repo, tmp: Path, codes: dict[str, Path], repeat: int) -> list[list[str]]:
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)
    (empty / "tasks.py").write_text("from invoke import task\n\n\n@task\ndef nothing(c):\n    pass\n")
    rows = []
    for label, code in codes.items():
        ours, peer = turns([partial(repo.invoke, code, "--list"),
                            partial(run, [sys.executable, "-m", "invoke", "--list"], empty, env(code))], repeat)
        rows.append([f"`invoke --list` ({label})", str(ours), f"invoke with an empty tasks.py: {peer}",
                     ratio(ours, peer), "<= 1.2x"])
    return rows


def table(rows: list[list[str]]) -> str:
    out = ["| work | time (CPU) | floor or peer, same run | ratio | target |", "|---|---|---|---|---|"]
    return "\n".join(out + [f"| {' | '.join(r)} |" for r in rows])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="300,1000,3000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--before", default="2429245")
    ap.add_argument("--skip-before", action="store_true", help="measure this checkout only")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"{os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the start",
          flush=True)
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        codes = {"after": ROOT} if args.skip_before else {"before": before_code(args.before, tmp), "after": ROOT}
        repos = {n: Repo(tmp / f"r{n}", n) for n in sizes}
        one_k = repos.get(1000) or repos[sizes[0]]
        rows += list_rows(one_k, tmp, codes, args.repeat)
        print(table(rows), flush=True)
        rows += validate_rows(one_k, tmp, codes, args.repeat)
        print(table(rows), flush=True)
        rows += helm_rows(one_k, tmp, codes, args.repeat)
        print(table(rows), flush=True)
        rows += scale_rows(repos, codes, args.repeat)
        print(table(rows), flush=True)
        rows.append(cold_row(tmp, max(sizes)))
    print(f"\nload average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    print(table(rows))


if __name__ == "__main__":
    main()
