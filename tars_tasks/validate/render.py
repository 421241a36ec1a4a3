"""`invoke validate`: file problems of the selected services, then every one rendered by helm and checked.

Rendering goes through chart/umbrella.py: a few hundred charts per helm process, as many processes as cores.
When a batch fails to render, each of its services is rendered on its own to say which one and why.

Checking the rendered manifests against the CRD schemas is Python work (YAML parsing, jsonschema) that costs
more than helm's rendering: with more than one batch it runs in worker processes (spawned, so none inherits
the render threads), one per core, each checking a batch while helm renders the next ones.
"""
from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path

from tars_tasks.chart.umbrella import BATCH, Rendered, render_each, workers
from tars_tasks.core.errors import Problem
from tars_tasks.core.helm import HelmError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.validate.conformance import crd_problems, parse


def check_texts(texts: list[str], crds: str) -> list[list[str]]:
    """The CRD problems of each rendered text (a top-level function: it runs in worker processes)."""
    folder = Path(crds) if crds else None
    return [crd_problems(parse(text), folder) if text else [] for text in texts]


def render_problems(settings: Settings, services: Sequence[Service], crd_check: bool = True) -> list[Problem]:
    """Package and render every service; a chart that fails to render or breaks a CRD is a problem."""
    crds = settings.path(settings.crds_dir)
    problems = []
    for service, rendered, messages in _checked(settings, services, str(crds) if crds else "", crd_check):
        if isinstance(rendered, HelmError):
            problems.append(Problem(service.display, 1, 1, "", f"chart does not render: {rendered}"))
        elif not rendered:
            problems.append(Problem(service.display, 1, 1, "", "chart rendered no manifests"))
        else:
            problems.extend(Problem(service.display, 1, 1, "", f"rendered {msg}") for msg in messages)
    return problems


def _checked(settings: Settings, services: Sequence[Service], crds: str,
             crd_check: bool) -> Iterator[tuple[Service, str | HelmError, list[str]]]:
    """Each service, its render, and its CRD problems, in order."""
    rendered = render_each(settings, services)
    if not crd_check:
        yield from ((s, text, []) for s, text in rendered)
        return
    if len(services) <= BATCH:
        for s, text in rendered:
            yield s, text, check_texts([text], crds)[0] if isinstance(text, str) else []
        return
    n = workers(settings)
    with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[tuple[list[Rendered], Future[list[list[str]]]]] = deque()
        while chunk := list(islice(rendered, BATCH)):
            texts = [text if isinstance(text, str) else "" for _, text in chunk]
            pending.append((chunk, pool.submit(check_texts, texts, crds)))
            if len(pending) > n:  # a few batches in flight: memory stays bounded
                yield from _zip(*pending.popleft())
        while pending:
            yield from _zip(*pending.popleft())


def _zip(chunk: list[Rendered], checked: Future[list[list[str]]]) -> Iterator[tuple[Service, str | HelmError,
                                                                                    list[str]]]:
    for (s, text), messages in zip(chunk, checked.result()):
        yield s, text, messages
