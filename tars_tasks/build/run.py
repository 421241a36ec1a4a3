"""`invoke build`: resolve artifacts, ensure their images in parallel, print one line per service."""
from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from tars_tasks.build.artifacts import resolve
from tars_tasks.build.fingerprint import FileLister
from tars_tasks.build.images import BuildResult, ImageBuilder, build_all
from tars_tasks.core.project import Project
from tars_tasks.core.services import Service

_print_lock = threading.Lock()


def _progress(service_id: str, message: str) -> None:
    with _print_lock:
        print(f"{service_id}: {message}", file=sys.stderr, flush=True)


def run_build(project: Project, services: Sequence[Service], tag: str | None = None, push: bool = True,
              jobs: int | None = None) -> list[BuildResult]:
    settings = project.settings
    lister = FileLister(settings.root)
    artifacts = resolve(settings, services, tag, lister)
    builder = ImageBuilder(settings, progress=_progress, lister=lister)
    results = build_all(builder, [artifacts[s.id] for s in services], push, jobs or settings.jobs)
    for r in results:
        detail = f" ({r.reason})" if r.status == "failed" else ""
        print(f"{r.service}: {r.status} {r.image} in {r.seconds:.1f}s{detail}", file=sys.stderr)
    return results
