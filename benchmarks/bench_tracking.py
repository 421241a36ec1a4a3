"""Benchmark: tracking N TARS servers to Ready against the fake cluster (tests/fakes/cluster).

Issue target: tracking 200 services to Ready costs at most 10% over the fake's own delays.

Each server's TServer is put straight into the fake's store (what `helm upgrade` would leave there) and a
tracker is started right after it, as a deploy does: `track()` with `Rollout.look` over the library's `Kube`
(lightkube, one client shared by all trackers, as in a release). The fake's operator turns the TServer into
a StatefulSet of 2 pods after `reconcile_delay`; each pod becomes Ready `delay` after it was created.

- floor: the fake's own time from the TServer's creation to its Ready transition (its record).
- measured: from the TServer's creation until `track()` returned ready.
- overhead: sum(measured) / sum(floor) - 1, over all servers; late = measured - floor per server.

The fake runs in a process of its own (as a real API server would: the trackers' CPU does not slow its
operator, nor the other way round, beyond sharing the machine's CPUs). Its operator's `_owned_pods` is patched
to filter pods by owner before copying them (same result): as is, a tick copies every pod of the namespace
twice per StatefulSet and takes ~20 s at 200 servers (`--fake-as-is` to see). Even so the fake's tick grows
with the servers it holds, which the floor includes: the table says how far the floor is over the delays asked.

Configurations: every server `delay` 1.0 s, or a spread 0.5-2.0 s (by name); trackers `tars.jobs` (4) at a
time (a worker creates its next TServer when the previous one is Ready), or all N at once (a thread each).

    python benchmarks/bench_tracking.py [N] [--only uniform|spread] [--trackers jobs|all] [--jobs J]
                                        [--first-interval S] [--factor F] [--max-interval S] [--fake-as-is]
    python benchmarks/bench_tracking.py 50 --waves 5 [--jobs J] [--poll]

--waves W: the release shape (issue target: 50 services through 5 waves cost at most 1.1x the fake's delays on
the critical path plus the apply time). N servers in W waves, each depending on every server of the wave
before, run by the release's own scheduler with J jobs; each deploy applies its TServer (as helm would) and
then only tracks it (giving its --jobs slot up, deploy/scheduler.py) through the run's watches
(deploy/watch.py; --poll: no watches, polling as before). Critical path floor = per wave, the fake's own time
from creating to Ready of the wave's last server to become Ready, summed; apply time = per wave, the slowest
apply, summed.
The interval flags replace track()'s polling schedule (0.05 s, x1.5, up to 0.2 s for 10 s, then 0.5 s) through its `sleep`
parameter, to try another one without editing tars_tasks.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from fakes.cluster import FakeCluster, Outcome  # noqa: E402
from tars_tasks.core.helm import Helm  # noqa: E402
from tars_tasks.deploy.kube import Kube, KubeError  # noqa: E402
from tars_tasks.deploy.rollout import Rollout, RolloutPolicy  # noqa: E402
from tars_tasks.deploy.scheduler import Scheduler, TaskState  # noqa: E402
from tars_tasks.deploy.track import FAST_INTERVAL, FAST_PHASE, READY, SLOW_INTERVAL, Target, Verdict, track  # noqa: E402
from tars_tasks.deploy.watch import NamespaceWatch  # noqa: E402

NS = "tars"
RECONCILE = 0.1
TRACK_DEFAULT = (0.05, 1.5, FAST_INTERVAL)  # track()'s own schedule: first interval, growth, cap (first FAST_PHASE s)


@dataclass(frozen=True)
class Config:
    name: str
    delays: list[float]  # per server
    jobs: int  # concurrent trackers (0: all at once)


@dataclass
class Seen:
    """What the fake recorded, sent back from its process."""

    created: dict[str, float]  # TServer name: when it was ADDED
    ready: dict[str, float]  # TServer name: when it first became fully Ready
    requests: Counter[str]  # "GET pods" ...: requests answered since the trackers started
    ticks: list[float]  # the operator's tick durations while the trackers ran
    errors: list[str]


@dataclass
class Result:
    config: Config
    late: list[float]  # measured - floor, per server
    measured: float
    floor: float
    nominal: float  # sum of reconcile_delay + delay (what the fake is asked for)
    wall: float
    seen: Seen
    looks: list[float]  # seconds per Rollout.look
    cpu: float  # CPU seconds of this process (the trackers; the fake has its own) while they ran
    failures: list[str]


def tserver(i: int) -> dict[str, Any]:
    server = f"S{i:03d}"
    return {"apiVersion": "k8s.tars.io/v1beta3", "kind": "TServer",
            "metadata": {"name": f"app-{server.lower()}", "namespace": NS},
            "spec": {"app": "App", "server": server, "subType": "tars", "tars": {"template": "tars.cpp"},
                     "release": {"id": f"r{i}", "image": f"reg/app/{server.lower()}:v1"}, "k8s": {"replicas": 2}}}


def target(obj: dict[str, Any]) -> Target:
    spec = obj["spec"]
    return Target(NS, obj["metadata"]["name"], spec["app"], spec["server"], spec["release"]["image"])


def schedule_sleep(first: float, factor: float, cap: float) -> Callable[[float], None]:
    """A sleep for track() that ignores the interval asked for and follows another schedule."""
    state = {"next": first}

    def sleep(_asked: float) -> None:
        time.sleep(state["next"])
        state["next"] = min(state["next"] * factor, cap)
    return sleep


def kind_of(path: str) -> str:
    return next((kind for kind in ("tservers", "statefulsets", "pods") if f"/{kind}" in path), path)


# --- the fake, in a process of its own ------------------------------------------------------------------------

def owned_pods_filtered(operator: Any) -> None:
    """The fake's operator copies every pod of the namespace twice per StatefulSet per tick (quadratic: 20 s
    ticks at 200 servers); this filters by owner before copying, the same pods in the same order."""
    from fakes.cluster import operator as module

    def owned_pods(workload: dict[str, Any]) -> list[dict[str, Any]]:
        ns, uid = workload["metadata"]["namespace"], workload["metadata"]["uid"]
        return operator.store.list(module.POD, ns, lambda pod: module.owned_by(pod, uid))[0]
    operator._owned_pods = owned_pods


def fake_process(conn: Connection, names: list[str], delays: list[float], kubeconfig: str, as_is: bool) -> None:
    """Serve a FakeCluster until asked for what it saw: ("create", obj), ("mark",), ("seen",)."""
    with FakeCluster(default_outcome=Outcome.ready(delay=1.0, reconcile_delay=RECONCILE)) as cluster:
        ticks: list[float] = []
        tick = cluster.operator.tick
        mark = 0

        def timed_tick() -> None:
            start = time.perf_counter()
            tick()
            if mark:  # only while the trackers run
                ticks.append(time.perf_counter() - start)
        cluster.operator.tick = timed_tick  # type: ignore[method-assign]
        if not as_is:
            owned_pods_filtered(cluster.operator)
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for name, delay in zip(names, delays, strict=True):
            cluster.set_outcome(name, Outcome.ready(delay=delay, reconcile_delay=RECONCILE))
        conn.send(str(cluster.kubeconfig(Path(kubeconfig))))
        while True:
            message = conn.recv()
            if message[0] == "create":
                conn.send(cluster.create(message[1])["metadata"]["name"])
            elif message[0] == "mark":
                mark = len(cluster.requests)
                conn.send(None)
            else:
                break
        requests = Counter(f"{r.method} {kind_of(r.path)}" for r in cluster.requests[mark:])
        created = {c.name: c.time for c in cluster.changes if c.type == "ADDED" and c.kind == "TServer"}
        ready: dict[str, float] = {}
        for t in cluster.server_transitions:
            if t.ready:
                ready.setdefault(t.server, t.time)
        conn.send(Seen(created, ready, requests, ticks, list(cluster.operator.errors)))


class Fake:
    """The parent's end: thread-safe calls into the fake's process."""

    def __init__(self, names: list[str], delays: list[float], kubeconfig: Path, as_is: bool):
        self.conn, child = multiprocessing.Pipe()
        self.lock = threading.Lock()
        self.process = multiprocessing.get_context("spawn").Process(
            target=fake_process, args=(child, names, delays, str(kubeconfig), as_is), daemon=True)
        self.process.start()
        self.kubeconfig = self.conn.recv()

    def call(self, *message: Any) -> Any:
        with self.lock:
            self.conn.send(message)
            return self.conn.recv()

    def seen(self) -> Seen:
        seen = self.call("seen")
        self.process.join(timeout=30)
        return seen


# --- the trackers -----------------------------------------------------------------------------------------------

def run(config: Config, schedule: tuple[float, float, float], tmp: Path, as_is: bool) -> Result:
    n = len(config.delays)
    objects = [tserver(i) for i in range(n)]
    names = [o["metadata"]["name"] for o in objects]
    fake = Fake(names, config.delays, tmp / f"kubeconfig-{config.name}-{config.jobs}", as_is)
    os.environ["KUBECONFIG"] = fake.kubeconfig
    rollout = Rollout(helm=Helm("helm"), kube=Kube(), namespace=NS, timeout="5m0s", policy=RolloutPolicy())
    rollout.kube.tserver(NS, "warm-up")  # a deploy asks the cluster (failed revisions) before it tracks
    fake.call("mark")
    done: dict[str, tuple[float, str]] = {}
    looks: list[float] = []
    lock = threading.Lock()

    def look(t: Target) -> Verdict:
        start = time.perf_counter()
        verdict = rollout.look(t)
        with lock:
            looks.append(time.perf_counter() - start)
        return verdict

    def deploy(obj: dict[str, Any]) -> None:
        fake.call("create", obj)
        sleep = schedule_sleep(*schedule) if schedule != TRACK_DEFAULT else time.sleep
        try:
            state = track(target(obj), look, time.monotonic() + 300, sleep=sleep).state
        except KubeError as exc:  # a deploy would fail here (e.g. the fake too busy to answer within 10 s)
            state = str(exc)
        with lock:
            done[obj["metadata"]["name"]] = (time.monotonic(), state)

    start, cpu = time.monotonic(), time.process_time()
    with ThreadPoolExecutor(max_workers=config.jobs or n) as pool:
        list(pool.map(deploy, objects))
    wall, cpu = time.monotonic() - start, time.process_time() - cpu
    seen = fake.seen()
    failures = [f"{name}: {state}" for name, (_, state) in done.items() if state != READY] + seen.errors[:1]
    names = [name for name in names if done[name][1] == READY and name in seen.ready]
    floors = [seen.ready[name] - seen.created[name] for name in names]
    measured = [done[name][0] - seen.created[name] for name in names]
    return Result(config, [m - f for m, f in zip(measured, floors, strict=True)], sum(measured), sum(floors),
                  sum(d + RECONCILE for d in config.delays), wall, seen, looks, cpu, failures)


def report(results: list[Result], n: int) -> None:
    print(f"{'configuration':<22} {'late median':>11} {'late max':>9} {'sum measured':>12} {'sum floor':>10} "
          f"{'overhead':>8} {'wall':>7} {'req/server':>10} {'look med':>8} {'CPU/look':>8} {'fake tick med/max':>17}")
    for r in results:
        trackers = f"{r.config.jobs} trackers" if r.config.jobs else f"{n} at once"
        ticks = sorted(r.seen.ticks)
        print(f"{r.config.name + ', ' + trackers:<22} {statistics.median(r.late):>9.3f} s {max(r.late):>7.3f} s "
              f"{r.measured:>10.1f} s {r.floor:>8.1f} s {100 * (r.measured / r.floor - 1):>7.1f}% "
              f"{r.wall:>5.1f} s {sum(r.seen.requests.values()) / n:>10.1f} "
              f"{1000 * statistics.median(r.looks):>5.0f} ms {1000 * r.cpu / len(r.looks):>5.1f} ms "
              f"{1000 * statistics.median(ticks):>8.0f}/{1000 * ticks[-1]:.0f} ms")
    for r in results:
        detail = ", ".join(f"{k} {v / n:.1f}" for k, v in sorted(r.seen.requests.items()))
        print(f"  {r.config.name}/{r.config.jobs or 'all'}: per server {detail}; the floor is "
              f"{100 * (r.floor / r.nominal - 1):.0f}% over the delays asked of the fake ({r.nominal:.0f} s)")
        for failure in r.failures[:5]:
            print(f"  FAILED {failure}")
        if len(r.failures) > 5:
            print(f"  ... {len(r.failures) - 5} more failures (not in the numbers above)")


def run_waves(n: int, waves: int, jobs: int, tmp: Path, poll: bool) -> None:
    """N servers in W waves through the scheduler; prints wall against the critical path's floor + apply."""
    objects = [tserver(i) for i in range(n)]
    names = [o["metadata"]["name"] for o in objects]
    fake = Fake(names, [1.0] * n, tmp / "kubeconfig-waves", False)
    os.environ["KUBECONFIG"] = fake.kubeconfig
    kube = Kube()
    watch = None if poll else NamespaceWatch(kube, NS).start()
    kube.tserver(NS, "warm-up")
    wave_of = {name: i * waves // n for i, name in enumerate(names)}
    needs = {name: [d for d in names if wave_of[d] == wave_of[name] - 1] for name in names}
    applied: dict[str, float] = {}
    by_name = {o["metadata"]["name"]: o for o in objects}
    scheduler: Scheduler[str] = Scheduler(needs, lambda name: None, jobs)

    def deploy(name: str) -> None:
        start = time.monotonic()
        fake.call("create", by_name[name])
        applied[name] = time.monotonic() - start
        rollout = Rollout(helm=Helm("helm"), kube=kube, namespace=NS, timeout="5m0s", policy=RolloutPolicy(),
                          watch=watch)
        with scheduler.waiting():
            verdict = track(target(by_name[name]), rollout.look, time.monotonic() + 300, sleep=rollout._pause)
        if verdict.state != READY:
            raise RuntimeError(f"{name}: {verdict.state} {verdict.waiting_for}")

    scheduler.run = deploy
    fake.call("mark")
    start = time.monotonic()
    outcomes = scheduler.execute()
    wall = time.monotonic() - start
    if watch is not None:
        watch.close()
    time.sleep(0.5)  # the fake records a server Ready on its next tick, after its pods are (what trackers see)
    seen = fake.seen()
    failed = [f"{name}: {o.state} {o.error or ''}" for name, o in outcomes.items() if o.state is not TaskState.DONE]
    if failed or seen.errors:
        print(f"FAILED {len(failed)}: {failed[:3]} {seen.errors[:1]}")
        return
    floor = apply = 0.0
    for w in range(waves):
        members = [name for name in names if wave_of[name] == w]
        last = max(members, key=lambda name: seen.ready.get(name, 0.0))
        floor += seen.ready[last] - seen.created[last]
        apply += max(applied[name] for name in members)
    mode = "polling" if poll else "watches"
    print(f"{n} servers, {waves} waves, {jobs} jobs, {mode}: wall {wall:.2f} s; critical path floor {floor:.2f} s "
          f"+ apply {apply:.2f} s = {floor + apply:.2f} s; ratio {wall / (floor + apply):.3f} "
          f"(target <= 1.1: {'ok' if wall <= 1.1 * floor + apply else 'OVER TARGET'}); requests "
          f"{sum(seen.requests.values())} ({', '.join(f'{k} {v}' for k, v in sorted(seen.requests.items()))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=200)
    parser.add_argument("--only", choices=("uniform", "spread"))
    parser.add_argument("--trackers", choices=("jobs", "all"), help="only jobs-at-a-time, or only all at once")
    parser.add_argument("--jobs", type=int, default=4, help="concurrent trackers (tars.jobs)")
    parser.add_argument("--first-interval", type=float, default=TRACK_DEFAULT[0])
    parser.add_argument("--factor", type=float, default=TRACK_DEFAULT[1])
    parser.add_argument("--max-interval", type=float, default=TRACK_DEFAULT[2])
    parser.add_argument("--fake-as-is", action="store_true", help="without the fake's owned-pods filter")
    parser.add_argument("--waves", type=int, default=0, help="the release shape: N servers in this many waves")
    parser.add_argument("--poll", action="store_true", help="--waves without the watches (polling)")
    args = parser.parse_args()
    n = args.n
    if args.waves:
        with tempfile.TemporaryDirectory() as tmp:
            run_waves(n, args.waves, args.jobs, Path(tmp), args.poll)
        return
    shapes = {"uniform": [1.0] * n, "spread": [0.5 + 1.5 * ((i * 37) % n) / max(n - 1, 1) for i in range(n)]}
    schedule = (args.first_interval, args.factor, args.max_interval)
    print(f"tracking {n} TServers (2 replicas each) to Ready against the fake (own process); reconcile "
          f"{RECONCILE} s, pods Ready after 1.0 s (uniform) or 0.5-2.0 s (spread); polling every "
          f"{schedule[0]} s x{schedule[1]} up to {schedule[2]} s"
          + (f" (then {SLOW_INTERVAL} s after {FAST_PHASE:.0f} s: the library's own)" if schedule == TRACK_DEFAULT else ""))
    results = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for shape, delays in shapes.items():
            for jobs in (args.jobs, 0):
                if args.only in (None, shape) and args.trackers in (None, "jobs" if jobs else "all"):
                    results.append(run(Config(shape, delays, jobs), schedule, Path(tmp), args.fake_as_is))
    report(results, n)
    print(f"load average {' '.join(f'{x:.1f}' for x in load)} before, "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} after ({os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
