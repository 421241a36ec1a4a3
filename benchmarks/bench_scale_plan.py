"""Benchmark: planning at scale, each cost as a ratio to a peer measured in the same run (issue 13).

    python benchmarks/bench_scale_plan.py [--sizes 3000,10000] [--big 300] [--big-mb 20] [--tasks 20000]

- `plan --since BASE --dry-run` when every file changed since BASE, against `validate --no-render` of the same
  repository (target <= 2x), at each size; `git diff --name-only BASE` shown as the floor;
- content-mode `plan` (nothing changed; the cluster is tests/fakes/helm filled with what a release left)
  against `validate --no-render` at the largest size (target <= 1.5x);
- content-mode `plan` of ``--big`` services each holding a ``--big-mb`` MB file, against the same services
  without it (target <= 1.3x); `git ls-files -s` shown as the floor;
- the scheduler running ``--tasks`` no-op tasks (a DAG: each needs the one before and the one at half its
  index) against a plain loop calling the same function (target: under 1 s).

Every `invoke` is a new process with this checkout on PYTHONPATH. Subject and peer runs alternate and the
medians are shown, wall and CPU time (this process plus the children it waited for): on a machine shared
with other jobs, the CPU ratio is the steadier one. The registry is the live local one
(``--registry``, default 127.0.0.1:5000) under a prefix of this run's own, as users have it: a plan that looks
tags up (every service changed) asks it about each new tag (none is there: a new tag is never remembered as
present, image/tag_memory.py). Prints a markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import synth_scale  # noqa: E402

from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.deploy.release import plan_only  # noqa: E402
from tars_tasks.deploy.scheduler import Scheduler, TaskState  # noqa: E402
from tars_tasks.plan.model import Options  # noqa: E402
from tars_tasks.project import Project  # noqa: E402

FAKE_HELM = ROOT / "tests" / "fakes" / "helm"


@dataclass
class Cost:
    wall: float  # seconds, median
    cpu: float  # seconds of CPU (this process and the children it waited for), median


@dataclass
class Row:
    what: str
    cost: Cost
    peer: str
    peer_cost: Cost
    target: str = ""


def measure(fn: Callable[[], object]) -> Cost:
    """Wall and CPU time of one call: on a machine shared with other jobs the CPU time is the steadier."""
    before, cpu0, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time(), time.perf_counter()
    fn()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return Cost(wall, children + time.process_time() - cpu0)


def paired(subject: Callable[[], object], peer: Callable[[], object], repeat: int) -> tuple[Cost, Cost]:
    """Medians of ``repeat`` runs of each, interleaved (peer, subject, peer, ...) so that load from other
    jobs falls on both alike."""
    runs: list[tuple[Cost, Cost]] = []
    for _ in range(repeat):
        p = measure(peer)
        runs.append((measure(subject), p))

    def median(costs: list[Cost]) -> Cost:
        return Cost(statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs))

    return median([r[0] for r in runs]), median([r[1] for r in runs])


def live_registry(address: str) -> str:
    """``address`` with a repository prefix of this run's own; refused when nothing answers there."""
    host, _, port = address.partition(":")
    try:
        socket.create_connection((host, int(port or 443)), timeout=5).close()
    except OSError as exc:
        raise SystemExit(f"no registry answers at {address} ({exc}): start one, or give --registry") from None
    return f"{address}/bench-{uuid.uuid4().hex[:8]}"


class Repo:
    """A synthetic monorepo and how to run `invoke` in it against the fake cluster."""

    def __init__(self, root: Path, n: int, registry: str):
        self.root = synth_scale.project(root, n, registry)
        self.n = n
        self.registry = registry
        self.state = root.parent / f"{root.name}-cluster"
        self.state.mkdir()
        real_helm = Settings.from_mapping({"root": str(ROOT)}).helm_binary()
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "INVOKE_TARS_HELM": str(FAKE_HELM),
                    "FAKE_HELM_DIR": str(self.state), "FAKE_HELM_REAL": real_helm}

    def invoke(self, *args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"`invoke {' '.join(args)}` failed in {self.root}: {proc.stderr[-2000:]}")
        return proc

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.root, check=True, capture_output=True)

    def deployed(self) -> Project:
        """Fill the fake cluster with what a release of the current tree leaves: nothing changed after."""
        settings = Settings.from_mapping({"root": str(self.root), "namespace": "bench", "registry": self.registry})
        project = Project.load(settings)
        planned = plan_only(project, Options(force_all=True, dry_run=True))
        releases = {}
        for p in planned.services:
            name = p.chart.rsplit("-", 2)[0]
            releases[name] = {"name": name, "namespace": "bench", "revision": "1", "status": "deployed",
                              "chart": p.chart, "app_version": p.image.rsplit(":", 1)[1]}
        (self.state / "releases.json").write_text(json.dumps(releases))
        return project

    def changed_count(self, *args: str) -> int:
        plan = json.loads(self.invoke("plan", "--json", *args).stdout)
        return sum(1 for s in plan["services"] if s["changed"])


def since_rows(repo: Repo, repeat: int) -> list[Row]:
    base = synth_scale.head(repo.root)
    files = synth_scale.change_every_file(repo.root)
    assert repo.changed_count("--since", base, "--dry-run") == repo.n
    validate = lambda: repo.invoke("validate", "--no-render")  # noqa: E731
    plan, peer = paired(lambda: repo.invoke("plan", "--since", base, "--dry-run"), validate, repeat)
    diff, peer2 = paired(lambda: repo.git("diff", "--name-only", base), validate, 1)
    synth_scale.commit(repo.root, "every file changed")
    return [Row(f"`plan --since` {repo.n} services, all {files} files changed", plan, "`validate --no-render`", peer,
                "<= 2x"),
            Row(f"`git diff --name-only` of those {files} files (floor)", diff, "`validate --no-render`", peer2)]


def content_rows(repo: Repo, repeat: int) -> list[Row]:
    project = repo.deployed()
    assert repo.changed_count() == 0
    plan, validate = paired(lambda: repo.invoke("plan"), lambda: repo.invoke("validate", "--no-render"), repeat)
    ids = [s.id for s in reversed(project.services)] * 2  # every service named twice (repeated --service)
    select, by_id = paired(lambda: project.select(ids), project.by_id, repeat)
    return [Row(f"content-mode `plan` {repo.n} services, nothing changed", plan, "`validate --no-render`", validate,
                "<= 1.5x"),
            Row(f"`Project.select` of {len(ids)} ids ({repo.n} services)", select, "one id -> service dict", by_id,
                "linear")]


def big_rows(tmp: Path, n: int, mb: int, repeat: int, registry: str) -> list[Row]:
    small = Repo(tmp / "small", n, registry)
    big = Repo(tmp / "big", n, registry)
    added = synth_scale.add_big_files(big.root, mb << 20)
    synth_scale.commit(big.root, "big files")
    for repo in (small, big):
        repo.deployed()
        assert repo.changed_count() == 0
    t_big, t_small = paired(lambda: big.invoke("plan"), lambda: small.invoke("plan"), repeat)
    floor, t_small2 = paired(lambda: big.git("ls-files", "-s"), lambda: small.invoke("plan"), 1)
    size = f"{added * mb / 1024:.1f} GB" if added * mb >= 1024 else f"{added * mb} MB"
    return [Row(f"content-mode `plan` {n} services + a {mb} MB file each ({size})", t_big,
                "same services without the big files", t_small, "<= 1.3x"),
            Row("`git ls-files -s` of the big repository (floor)", floor, "same services without the big files",
                t_small2)]


def scheduler_rows(tasks: int, repeat: int) -> list[Row]:
    needs = {i: sorted({i - 1, i // 2} - {i}) if i else [] for i in range(tasks)}
    done: list[int] = []

    def work(task: int) -> None:
        done.append(task)

    def loop() -> None:
        for i in range(tasks):
            work(i)

    def scheduled() -> None:
        outcomes = Scheduler(needs, work, jobs=4).execute()
        assert all(o.state is TaskState.DONE for o in outcomes.values())

    sched, plain = paired(scheduled, loop, repeat)
    return [Row(f"scheduler, {tasks} no-op tasks ({sum(map(len, needs.values()))} edges, 4 workers)", sched,
                "plain loop calling the same function", plain, "< 1 s")]


def table(rows: list[Row]) -> str:
    out = ["| work | time (CPU) | peer, same run | peer time (CPU) | ratio wall | ratio CPU | target |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.what} | {r.cost.wall:.3f} s ({r.cost.cpu:.2f} s) | {r.peer} | {r.peer_cost.wall:.3f} s "
                   f"({r.peer_cost.cpu:.2f} s) | {r.cost.wall / r.peer_cost.wall:.2f}x | "
                   f"{r.cost.cpu / max(r.peer_cost.cpu, 1e-6):.2f}x | {r.target} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000,10000")
    parser.add_argument("--big", type=int, default=300)
    parser.add_argument("--big-mb", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--registry", default="127.0.0.1:5000")
    parser.add_argument("--no-content", action="store_true", help="skip the content-mode rows (minutes at 10k)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    registry = live_registry(args.registry)
    rows: list[Row] = scheduler_rows(args.tasks, args.repeat)
    print(table(rows), flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for n in sizes:
            repo = Repo(tmp / f"r{n}", n, registry)
            rows += since_rows(repo, args.repeat)
            if n == max(sizes) and not args.no_content:
                rows += content_rows(repo, args.repeat)
            print(table(rows), flush=True)
        if args.big:
            rows += big_rows(tmp, args.big, args.big_mb, args.repeat, registry)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
