"""The build engines of a run (`tars.builders`) and a queue over them: each build takes a free engine.

Engines are contacted once, on the first build of the run, all at once (so a host that does not answer
costs one ping timeout, not one per engine). One that does not answer is left out with a warning that
names it; when none answers, every build fails with a message naming each engine and why. Each engine runs
up to `per_engine` builds at a time (`tars.builder_jobs`, else the run's jobs spread over the live
engines); a build waits for a free slot and takes the least busy engine (the first listed on a tie), so a
fast engine simply takes more builds.
"""
from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from tars_tasks.core.errors import TarsError
from tars_tasks.image.engine import DEFAULT_ENGINE, Engine, EngineDown, display_name


class NoEngine(TarsError):
    pass


Connect = Callable[[str, str], Engine]


class EnginePool:
    def __init__(self, addresses: Sequence[str], mode: str = "auto", jobs: int = 1, per_engine: int = 0,
                 connect: Connect = Engine.connect):
        self.addresses = list(addresses) or [DEFAULT_ENGINE]
        self.mode = mode
        self.jobs = max(1, jobs)
        self.per_engine = per_engine
        self._connect = connect
        self._cond = threading.Condition()
        self._engines: list[Engine] | None = None
        self._busy: dict[int, int] = {}
        self._failure: str | None = None
        self.warnings: list[str] = []  # one per engine left out, for the caller to show once

    def _start(self) -> list[str]:
        """Connect to every engine (once); returns the warnings of this start (empty on later calls)."""
        if self._engines is not None or self._failure is not None:
            return []

        def attempt(address: str) -> Engine | str:
            try:
                return self._connect(address, self.mode)
            except EngineDown as exc:
                return str(exc)

        with ThreadPoolExecutor(len(self.addresses)) as threads:
            outcomes = list(threads.map(attempt, self.addresses))
        engines = [o for o in outcomes if isinstance(o, Engine)]
        down = [(display_name(a), o) for a, o in zip(self.addresses, outcomes, strict=True) if isinstance(o, str)]
        if not engines:
            self._failure = "no build engine answers: " + "; ".join(f"{a} ({why})" for a, why in down)
            return []
        self.warnings = [f"build engine {a} is down, builds go to the others ({why})" for a, why in down]
        self._engines = engines
        self._busy = {i: 0 for i in range(len(engines))}
        if not self.per_engine:
            self.per_engine = max(1, math.ceil(self.jobs / len(engines)))
        return list(self.warnings)

    @contextlib.contextmanager
    def engine(self, on_start: Callable[[list[str]], None] | None = None) -> Iterator[Engine]:
        """The least busy engine with a free slot, held for the block. ``on_start`` gets the warnings when
        this call is the one that contacted the engines. Raises NoEngine when none answers."""
        with self._cond:
            warnings = self._start()
            if warnings and on_start is not None:
                on_start(warnings)
            if self._failure is not None or self._engines is None:
                raise NoEngine(self._failure or "no build engine")
            while True:
                free = [i for i, n in self._busy.items() if n < self.per_engine]
                if free:
                    index = min(free, key=lambda i: (self._busy[i], i))
                    break
                self._cond.wait()
            self._busy[index] += 1
            engine = self._engines[index]
        try:
            yield engine
        finally:
            with self._cond:
                self._busy[index] -= 1
                self._cond.notify()

    @property
    def live(self) -> list[Engine]:
        return list(self._engines or [])

    def close(self) -> None:
        with self._cond:
            for engine in self._engines or []:
                engine.close()
