"""Many charts rendered by few helm processes, in bounded batches.

One `helm template` per chart costs a helm start (~0.05 s) each: 1,000 services took 47 s in sequence. One
helm process for every chart at once is fast but holds every chart and manifest in memory (10k services:
2.7 GiB, one core). So the charts are cut into batches of `BATCH`: each batch becomes the subcharts of a
throwaway umbrella chart rendered by one helm process, and as many batches render at once as there are
cores. Each rendered document names its subchart (`# Source: <umbrella>/charts/<name>/...`); rewritten to
`# Source: <name>/...` it is byte for byte what `helm template` of that chart alone prints.

A batch that fails to render is rendered chart by chart, to say which service fails and why.
"""
from __future__ import annotations

import os
import re
import shutil
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

from tars_tasks.chart.package import package
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.artifacts import Artifact, resolve

UMBRELLA = "tars-tasks-render"
# Charts per helm process. helm holds about 0.3 MB per chart of ours above its own ~45 MB (measured peak RSS:
# 100 charts 73 MB, 200: 117 MB, 1,000: 342 MB) and starts in ~0.07 s: at 200 one helm stays near 120 MB
# while its start is ~6% of its work, and 1,000 services still make 5 batches for the cores to share.
BATCH = 200
_DOC = re.compile(r"^---$", re.MULTILINE)
_SOURCE = re.compile(rf"^# Source: {UMBRELLA}/charts/([^/\n]+)/", re.MULTILINE)

Rendered = tuple[Service, "str | HelmError"]  # a service and its `helm template` output, or why it failed


def workers(settings: Settings) -> int:
    """Rendering is CPU work: more helm processes than cores only add memory."""
    return max(1, min(settings.jobs, os.cpu_count() or 1))


def split_by_subchart(text: str) -> dict[str, str]:
    """An umbrella's output -> subchart name -> its documents, each as `helm template` of that chart prints it."""
    out: dict[str, list[str]] = {}
    starts = [m.start() for m in _DOC.finditer(text)]
    for begin, end in zip(starts, starts[1:] + [len(text)]):
        doc = text[begin:end]
        m = _SOURCE.search(doc)
        if m:
            out.setdefault(m.group(1), []).append(doc[:m.start()] + f"# Source: {m.group(1)}/" + doc[m.end():])
    return {name: "".join(docs) for name, docs in out.items()}


class _Batches:
    """The shared state of one render: helm, the artifacts (tags) and a scratch folder."""

    def __init__(self, settings: Settings, services: Sequence[Service], tag: str | None, tmp: Path,
                 artifacts: dict[str, Artifact] | None = None, namespace: str | None = None,
                 charts: Mapping[str, Path] | None = None):
        self.settings, self.tmp = settings, tmp
        self.charts = charts or {}  # service id -> its chart, packaged already
        self.namespace = namespace or settings.namespace
        self.helm = Helm.from_settings(settings)
        self.artifacts: dict[str, Artifact] = artifacts if artifacts is not None else resolve(settings, services, tag)

    def render(self, index: int, group: Sequence[Service]) -> list[Rendered]:
        umbrella = self.tmp / f"batch-{index}" / UMBRELLA
        (umbrella / "charts").mkdir(parents=True)
        try:
            (umbrella / "Chart.yaml").write_text(f"apiVersion: v2\nname: {UMBRELLA}\nversion: 0.0.0\n")
            for s in group:
                if s.id in self.charts:
                    shutil.copyfile(self.charts[s.id], umbrella / "charts" / self.charts[s.id].name)
                else:
                    package(s, self.settings, self.artifacts[s.id].tag, umbrella / "charts")
            try:
                text = self.helm.template(UMBRELLA, str(umbrella), self.namespace)
            except HelmError:
                return self.one_by_one(index, group)
            rendered = split_by_subchart(text)
            return [(s, rendered.get(s.name, "")) for s in group]
        finally:
            shutil.rmtree(umbrella.parent, ignore_errors=True)

    def one_by_one(self, index: int, group: Sequence[Service]) -> list[Rendered]:
        folder = self.tmp / f"alone-{index}"

        def alone(s: Service) -> Rendered:
            path = self.charts.get(s.id) or package(s, self.settings, self.artifacts[s.id].tag, folder / s.name)[1]
            try:
                return s, self.helm.template(s.name, str(path), self.namespace)
            except HelmError as exc:
                return s, exc

        try:
            with ThreadPoolExecutor(workers(self.settings)) as pool:
                return list(pool.map(alone, group))
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def render_each(settings: Settings, services: Sequence[Service], tag: str | None = None,
                batch: int | None = None, artifacts: dict[str, Artifact] | None = None,
                namespace: str | None = None, charts: Mapping[str, Path] | None = None) -> Iterator[Rendered]:
    """Each service with its `helm template` output (or the HelmError of rendering it alone), in the order
    given; ``artifacts`` (a plan's tags) saves resolving them again and ``charts`` (id -> packaged chart)
    packaging them again; ``namespace`` defaults to tars.namespace.
    Batches render `workers(settings)` at a time; at most one more is waiting to be read, so memory
    holds a few batches whatever the number of services."""
    size = batch or BATCH
    groups = [services[i:i + size] for i in range(0, len(services), size)]
    if not groups:
        return
    n = workers(settings)
    with TemporaryDirectory(prefix="tars-render-") as tmp, ThreadPoolExecutor(n) as pool:
        batches = _Batches(settings, services, tag, Path(tmp), artifacts, namespace, charts)
        pending: deque[Future[list[Rendered]]] = deque()
        todo = iter(enumerate(groups))
        for index, group in todo:
            pending.append(pool.submit(batches.render, index, group))
            if len(pending) > n:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
