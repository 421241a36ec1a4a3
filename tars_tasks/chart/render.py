"""Charts for a set of services: package them (in parallel), or render them with helm (in batches)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tars_tasks.chart.package import package
from tars_tasks.chart.umbrella import render_each
from tars_tasks.core.helm import HelmError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.artifacts import resolve


def package_all(settings: Settings, services: Sequence[Service], tag: str | None = None,
                out_dir: Path | None = None) -> list[Path]:
    artifacts = resolve(settings, services, tag)
    with ThreadPoolExecutor(settings.jobs) as pool:
        results = list(pool.map(lambda s: package(s, settings, artifacts[s.id].tag, out_dir)[1], services))
    return results


def render(settings: Settings, services: Sequence[Service], tag: str | None = None) -> Iterator[str]:
    """The `helm template` output of each service, in the order given, as each batch of charts is rendered
    (chart/umbrella.py); the first service that does not render stops it with its HelmError."""
    for _, text in render_each(settings, services, tag):
        if isinstance(text, HelmError):
            raise text
        yield text
