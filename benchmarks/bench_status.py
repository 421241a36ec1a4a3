"""Benchmark: `status` over N deployed services against `plan` on the same repo (target: status <= 3x plan).

What is measured is the library call, in process, each with a freshly loaded Project:
- plan: `plan_only(project, Options())` (content mode: one `helm list`, the charts of every service);
- status: `operate.status.status(project, [])`: the same charts, one `helm list`, and one Kubernetes list per
  kind (TServers, TImages, StatefulSets, DaemonSets, pods, helm's deployed release records).

The cluster side is honest about what it must serve: `helm list` is the recording helm (tests/fakes/helm)
answering from a releases.json with one deployed release per service (the chart the plan would deploy); the
Kubernetes API is the fake cluster (tests/fakes/cluster), in a process of its own, holding what a release of
N services leaves: N TServers and TImages (rendered by the real helm from the first service's chart, renamed
per service), N helm release Secrets (gzipped records with values and manifest, as helm 4 writes them), and
the StatefulSets and 2N Ready pods its simulated operator made of the TServers (then stopped, so it does not
compete with the API server while timing).

    python benchmarks/bench_status.py [N]
"""
from __future__ import annotations

import base64
import gzip
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
from bench_tracking import owned_pods_filtered  # noqa: E402
from synth import make  # noqa: E402

from fakes.cluster import FakeCluster, Outcome  # noqa: E402
from tars_tasks.chart.package import package  # noqa: E402
from tars_tasks.core.helm import Helm  # noqa: E402
from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.deploy.kube import Kube  # noqa: E402
from tars_tasks.deploy.release import plan_only  # noqa: E402
from tars_tasks.operate.status import status  # noqa: E402
from tars_tasks.plan.model import Options  # noqa: E402
from tars_tasks.project import Project  # noqa: E402
from tars_tasks.state.desired import desired  # noqa: E402

NS = "bench"


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[Any, float]:
    times = []
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def fake_process(conn: Connection, objects: list[dict[str, Any]], kubeconfig: str, servers: int) -> None:
    """Serve a FakeCluster with ``objects``, Ready; answer ("mark",) and ("requests",), then stop."""
    with FakeCluster(default_outcome=Outcome.ready(delay=0.0, reconcile_delay=0.0)) as cluster:
        owned_pods_filtered(cluster.operator)
        cluster.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        for obj in objects:
            cluster.create(obj)

        def all_ready() -> bool:
            sets = cluster.objects("StatefulSet", NS)
            return len(sets) == servers and all((s.get("status") or {}).get("readyReplicas") == 2 for s in sets)
        cluster.wait_for(all_ready, timeout=600, interval=0.5)
        cluster.operator.stop()
        conn.send(str(cluster.kubeconfig(Path(kubeconfig))))
        mark = 0
        while True:
            message = conn.recv()
            if message[0] == "mark":
                mark = len(cluster.requests)
                conn.send(None)
            elif message[0] == "requests":
                conn.send(Counter(f"{r.method} {r.path.split('?')[0].rsplit('/', 1)[-1]}"
                                  for r in cluster.requests[mark:]))
            else:
                break


def helm_record(name: str, chart: str, values: dict[str, Any], manifest: str) -> dict[str, Any]:
    """helm's Secret for revision 1 of a deployed release (base64 of base64 of gzipped JSON)."""
    version = chart[len(name) + 1:]
    rel = {"name": name, "namespace": NS, "version": 1, "manifest": manifest, "config": {}, "hooks": [],
           "info": {"status": "deployed", "first_deployed": "2026-01-01T00:00:00Z",
                    "last_deployed": "2026-01-01T00:00:00Z", "description": "Install complete"},
           "chart": {"metadata": {"name": name, "version": version, "apiVersion": "v2"}, "values": values}}
    packed = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v1", "namespace": NS,
                         "labels": {"owner": "helm", "name": name, "status": "deployed", "version": "1",
                                    "tars-tasks.io/managed": "true", "tars-tasks.io/rollout-1": "verified"}},
            "data": {"release": base64.b64encode(packed.encode()).decode()}}


def deployed(settings: Settings, real_helm: str, tmp: Path) -> tuple[dict[str, dict], list[dict[str, Any]]]:
    """(releases.json for the recording helm, the objects a release of every service leaves)."""
    project = Project.load(settings)
    draft = desired(project, [], NS)
    first = draft.services[0]
    _, path = package(first, settings, draft.artifacts[first.id].tag, tmp / "charts")
    text = subprocess.run([real_helm, "template", first.name, str(path), "--namespace", NS], check=True,
                          capture_output=True, text=True).stdout
    chart0 = draft.charts[first.id]
    releases, objects = {}, []
    for s in draft.services:
        chart = draft.charts[s.id]
        manifest = (text.replace(chart0.image, chart.image).replace(chart0.release_id, chart.release_id)
                    .replace(first.name, s.name).replace(first.app, s.app).replace(first.server, s.server))
        ref = draft.chart_ref(s)
        releases[s.name] = {"name": s.name, "namespace": NS, "revision": "1", "status": "deployed", "chart": ref,
                            "app_version": chart.app_version, "updated": "2026-01-01 00:00:00 +0000 UTC"}
        objects.append(helm_record(s.name, ref, json.loads(chart.values), manifest))
        objects += [d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and d.get("kind") in
                    ("TServer", "TImage", "TConfig")]
    return releases, objects


def main(n: int = 1000) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = make(tmp / "repo", n)
        state = tmp / "helm-state"
        state.mkdir()
        real_helm = Settings.from_mapping({"root": str(ROOT)}).helm_binary()
        os.environ.update({"FAKE_HELM_DIR": str(state), "FAKE_HELM_REAL": real_helm})
        settings = Settings.from_mapping({"root": str(root), "namespace": NS, "registry": "127.0.0.1:5999",
                                          "helm": str(ROOT / "tests/fakes/helm")})
        releases, objects = deployed(settings, real_helm, tmp)
        (state / "releases.json").write_text(json.dumps(releases))
        print(f"starting the fake cluster with {len(objects)} objects ...", file=sys.stderr)
        conn, child = multiprocessing.Pipe()
        proc = multiprocessing.get_context("spawn").Process(
            target=fake_process, args=(child, objects, str(tmp / "kubeconfig"), n), daemon=True)
        proc.start()
        os.environ["KUBECONFIG"] = conn.recv()

        def run_status() -> Any:
            return status(Project.load(settings), [], NS, Helm.from_settings(settings),
                          Kube(settings.kube_context, settings.api_version))

        plan, t_plan = timed(lambda: plan_only(Project.load(settings), Options()))
        assert not any(p.changed for p in plan.services), [p.reasons for p in plan.services if p.changed][:3]
        conn.send(("mark",))
        conn.recv()
        report, t_status = timed(run_status, repeat=1)
        conn.send(("requests",))
        requests = conn.recv()
        report, t_status = timed(run_status)
        assert report.counts() == {"in sync": n}, (report.counts(), [s.details for s in report.services][:3])
        assert all(s.pods_ready == s.pods_desired == 2 for s in report.services)
        conn.send(("stop",))
        proc.join(timeout=30)
        rows = [("", "seconds", "x plan"), ("plan", f"{t_plan:.3f}", "1.00"),
                ("status", f"{t_status:.3f}", f"{t_status / t_plan:.2f}")]
        print(f"{n} deployed services, all in sync (median of 3, library calls, fresh Project each):")
        for row in rows:
            print(f"  {row[0]:<8} {row[1]:>8}  {row[2]:>7}")
        print(f"  status: Kubernetes requests per call: {sum(requests.values())} "
              f"({', '.join(f'{k} x{v}' for k, v in sorted(requests.items()))}); helm list x1")
        verdict = "ok" if t_status <= 3 * t_plan else "OVER TARGET"
        print(f"  target status <= 3x plan: {verdict}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
