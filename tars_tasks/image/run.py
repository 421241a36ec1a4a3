"""`invoke build`: resolve artifacts and ensure their images in parallel; the caller reports progress."""
from __future__ import annotations

import threading
from collections.abc import Sequence

from tars_tasks.core.files import FEW_SERVICES, FileLister
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.artifacts import resolve
from tars_tasks.image.images import BuildResult, BuildStatus, ImageBuilder, Progress, build_all
from tars_tasks.image.shard import shard_of


def run_build(settings: Settings, services: Sequence[Service], tag: str | None = None, push: bool = True,
              jobs: int | None = None, progress: Progress | None = None, overwrite_tag: bool = False,
              shard: tuple[int, int] | None = None, cancel: threading.Event | None = None) -> list[BuildResult]:
    """One result per service, in the order given. ``progress(service_id, message)`` is called from the
    build threads (at once for different services) for each step; `BuildResult.summary()` is a line per
    result for people. ``overwrite_tag`` replaces an image tag that holds other content (else refused).
    ``shard`` (K, N) keeps the services of shard K of N (`image/shard.py`); the others get no result.
    ``cancel`` set (a signal): nothing new starts, and what runs is reported interrupted once its compile step
    and engine call stopped."""
    if shard is not None:
        services = [s for s in services if shard_of(s.id, shard[1]) == shard[0]]
    lister = FileLister(settings.root, few=len(services) <= FEW_SERVICES)
    artifacts = resolve(settings, services, tag, lister)
    jobs = jobs or settings.jobs
    builder = ImageBuilder(settings, progress=progress, lister=lister, overwrite_tag=overwrite_tag, jobs=jobs,
                           cancel=cancel)
    try:
        built = build_all(builder, [artifacts[s.id] for s in services if not artifacts[s.id].pinned], push, jobs)
    finally:
        builder.close()
    by_id = {r.service: r for r in built}
    return [by_id.get(s.id) or BuildResult(s.id, artifacts[s.id].ref, BuildStatus.PINNED,
                                           "repo.image names a tag: deployed as given, never built")
            for s in services]
