"""Charts for a set of services: package them (in parallel) and render them with helm."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory

from tars_tasks.chart.package import package
from tars_tasks.core.helm import Helm
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.artifacts import resolve


def package_all(settings: Settings, services: Sequence[Service], tag: str | None = None,
                out_dir: Path | None = None) -> list[Path]:
    artifacts = resolve(settings, services, tag)
    with ThreadPoolExecutor(settings.jobs) as pool:
        results = list(pool.map(lambda s: package(s, settings, artifacts[s.id].tag, out_dir)[1], services))
    return results


def render(settings: Settings, services: Sequence[Service], tag: str | None = None) -> list[str]:
    """The `helm template` output of each service, in the order given."""
    helm = Helm.from_settings(settings)
    with TemporaryDirectory(prefix="tars-template-") as tmp:
        paths = package_all(settings, services, tag, Path(tmp))
        return [helm.template(s.name, str(p), settings.namespace) for s, p in zip(services, paths)]
