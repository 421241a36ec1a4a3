"""Benchmark: each task does only its work, and rendering stays bounded (issue 13, items 3-4), as ratios to a
peer measured in the same run.

    python benchmarks/bench_scale_render.py [--n 1000] [--big 10000] [--repeat 3] [--before REF]

- `invoke template` of N services against `invoke validate` of the same (target <= 1.3x);
- `invoke template --service X` in the N-service repository against `helm template` of X's packaged chart
  (target <= 4x); the library call alone (no `invoke` start) is shown too;
- `invoke --list` against `python3 -c pass` (target <= 4x);
- `invoke validate` (rendering) of ``--big`` services: peak memory of the whole process tree (python and its
  helm children, sampled from /proc every 20 ms; target < 1 GiB) and wall time, against the same command run
  by the code of ``--before`` (a git ref of this repository, default 07b0ac2: one helm process for every chart).
  ``--before ''`` skips that run.

Every `invoke` is a new process with the code under test first on PYTHONPATH. Prints a markdown table.
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
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import synth_scale  # noqa: E402

from tars_tasks.chart.package import package  # noqa: E402
from tars_tasks.chart.render import render  # noqa: E402
from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.image.artifacts import resolve  # noqa: E402
from tars_tasks.project import Project  # noqa: E402

GiB = 1 << 30
# Python as an installed package runs: pip writes the bytecode at install. This machine sets
# PYTHONDONTWRITEBYTECODE, which would make every `invoke` here compile ~100 modules from source (~0.1 s);
# the runs below keep their bytecode in a folder of their own instead.
PYCACHE = tempfile.mkdtemp(prefix="tars-bench-pycache-")
atexit.register(shutil.rmtree, PYCACHE, True)


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": PYCACHE, **(extra or {})}
CPU: dict[str, list[float]] = {}  # the last two words of a command -> CPU seconds of each run


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants now (0 for any that already exited)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak resident bytes of the process tree) of one command, which must succeed; its CPU
    seconds (with every helm and worker it ran) are added to CPU[argv[-1]]."""
    cpu = cpu_children()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss(proc.pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - start
    sampler.join()
    CPU.setdefault(" ".join(argv[-2:]), []).append(cpu_children() - cpu)
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(argv)}` failed in {cwd}: {err[-2000:]}")
    return seconds, peak[0]


def median(fn: Callable[[], float], repeat: int) -> float:
    return statistics.median(fn() for _ in range(repeat))


def interleaved(a: Callable[[], float], b: Callable[[], float], repeat: int) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` run in turn (the machine is shared: load changes during a run)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        times[0].append(a())
        times[1].append(b())
    return statistics.median(times[0]), statistics.median(times[1])


def cpu(key: str) -> float:
    return statistics.median(CPU[key])


class Repo:
    def __init__(self, root: Path, n: int, code: Path = ROOT):
        self.root = synth_scale.project(root, n, "127.0.0.1:5000")
        self.n = n
        self.helm = Settings.from_mapping({"root": str(ROOT)}).helm_binary()
        self.env = self.env_for(code)

    def env_for(self, code: Path) -> dict[str, str]:
        return python_env({"PYTHONPATH": str(code), "INVOKE_TARS_HELM": self.helm})

    def invoke(self, *args: str, code: Path = ROOT) -> tuple[float, int]:
        return run([sys.executable, "-m", "invoke", *args], self.root, self.env_for(code))

    def settings(self) -> Settings:
        return Settings.from_mapping({"root": str(self.root), "registry": "127.0.0.1:5000", "helm": self.helm})


def one_service(repo: Repo, sid: str, repeat: int, tmp: Path) -> tuple[float, float, float]:
    """(invoke template --service, the library call alone, helm template of the packaged chart), medians."""
    settings = repo.settings()

    def library() -> float:
        start = time.perf_counter()
        project = Project.load_selected(settings, [sid])
        selected = project.select([sid])
        project.require_valid(selected)
        list(render(settings, selected))
        return time.perf_counter() - start

    lib = median(library, repeat)
    project = Project.load_selected(settings, [sid])
    service = project.select([sid])[0]
    _, chart = package(service, settings, resolve(settings, [service])[sid].tag, tmp / "one")
    argv = [repo.helm, "template", service.name, str(chart), "--namespace", settings.namespace]
    cli, helm = interleaved(lambda: repo.invoke("template", "--service", sid)[0],
                            lambda: run(argv, repo.root, python_env())[0], repeat)
    return cli, lib, helm


def before_code(ref: str, tmp: Path) -> Path:
    """This repository's tars_tasks at ``ref``, extracted under ``tmp`` (for the "before" column)."""
    dest = tmp / f"before-{ref}"
    dest.mkdir()
    archive = subprocess.run(["git", "archive", ref, "tars_tasks"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--big", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--before", default="07b0ac2")
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        repo = Repo(tmp / "repo", args.n)
        template, validate = interleaved(lambda: repo.invoke("template")[0], lambda: repo.invoke("validate")[0],
                                         args.repeat)
        tcpu, vcpu = cpu("invoke template"), cpu("invoke validate")
        rows.append((f"`template` of {args.n:,}", f"{template:.2f} s ({tcpu:.1f} CPU-s)",
                     f"`validate` of the same: {validate:.2f} s ({vcpu:.1f} CPU-s)",
                     f"{template / validate:.2f}x (CPU {tcpu / vcpu:.2f}x)", "<= 1.3x"))
        sid = f"App{(args.n // 2) % 10}.Server{args.n // 2}"  # mid-repository: ~50 services in its dependsOn chain
        cli, lib, helm = one_service(repo, sid, max(args.repeat, 5), tmp)
        rows.append((f"`template --service X` in {args.n:,}", f"{cli:.2f} s (library call alone: {lib:.3f} s)",
                     f"`helm template` of X's chart: {helm:.3f} s", f"{cli / helm:.1f}x (library {lib / helm:.1f}x)",
                     "<= 4x"))
        listing, bare = interleaved(lambda: repo.invoke("--list")[0],
                                    lambda: run([sys.executable, "-c", "pass"], repo.root, python_env())[0],
                                    max(args.repeat, 5))
        empty = tmp / "empty"  # invoke's own start: a tasks.py with one empty task
        empty.mkdir()
        (empty / "tasks.py").write_text("from invoke import task\n\n\n@task\ndef nothing(c):\n    pass\n")
        invoke_only = median(lambda: run([sys.executable, "-m", "invoke", "--list"], empty, python_env())[0],
                             max(args.repeat, 5))
        rows.append(("`invoke --list`", f"{listing:.3f} s (invoke alone, empty tasks.py: {invoke_only:.3f} s, "
                     f"{invoke_only / bare:.1f}x)", f"`python3 -c pass`: {bare:.3f} s", f"{listing / bare:.1f}x",
                     "<= 4x"))
        if args.big:
            big = Repo(tmp / "big", args.big)
            seconds, peak = big.invoke("validate")
            vcpu = CPU["invoke validate"][-1]
            peer, ratio = "(not run)", ""
            if args.before:
                old_seconds, old_peak = big.invoke("validate", code=before_code(args.before, tmp))
                ocpu = CPU["invoke validate"][-1]
                peer = f"before ({args.before}): {old_seconds:.1f} s ({ocpu:.0f} CPU-s), {old_peak / GiB:.2f} GiB peak"
                ratio = f"time {seconds / old_seconds:.2f}x, memory {peak / old_peak:.2f}x"
            rows.append((f"`validate` of {args.big:,} (rendering)",
                         f"{seconds:.1f} s ({vcpu:.0f} CPU-s), {peak / GiB:.2f} GiB peak", peer, ratio, "< 1 GiB peak"))
    print("| work | tars-tasks | peer in the same run | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
