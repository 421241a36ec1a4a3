"""A generic dependency-aware scheduler: run tasks on a worker pool, each after the tasks it needs.

It knows nothing of images, charts or deploys. A task starts as soon as every task it needs is done; a
failed task skips everything that needs it (transitively), and the rest go on unless ``fail_fast``. Cost
is O(tasks + edges) (times log tasks for the ready heap): completions decrement counters, nothing is rescanned.

When more tasks are ready than workers are free, the one heading the longest chain of tasks still to run
after it goes first (critical path first): a long chain started late is what makes a run long. Ties keep
the order in which tasks became ready (the order of ``needs`` at the start).
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tars_tasks.core.textenum import TextEnum

K = TypeVar("K", bound=Hashable)


class TaskState(TextEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"



@dataclass
class Outcome(Generic[K]):
    """How one task ended: done, failed (with the exception), or skipped (with the task that caused it)."""

    state: TaskState = TaskState.PENDING
    error: BaseException | None = None
    cause: K | None = None  # for a skipped task: the failed task upstream, or the first failure (fail_fast)


@dataclass
class Scheduler(Generic[K]):
    """``needs``: task -> the tasks it waits for (all of them must be keys). ``run``: does one task."""

    needs: Mapping[K, Sequence[K]]
    run: Callable[[K], None]
    jobs: int = 4
    fail_fast: bool = False
    on_start: Callable[[K], None] = lambda task: None
    on_end: Callable[[K, Outcome[K]], None] = lambda task, outcome: None
    cancel: threading.Event = field(default_factory=threading.Event)  # set: start nothing new

    _workers: _Workers[K] | None = field(default=None, init=False, repr=False)

    def execute(self) -> dict[K, Outcome[K]]:
        """Run every task once its needs are done; returns how each ended."""
        self._workers = _Workers(self, _Run(self))
        return self._workers.execute(max(1, self.jobs))

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Called by a running task that from now on only waits (a deploy tracking its rollout): its worker
        slot goes to the next ready task, so ``jobs`` bounds the work done at once, not the waiting. The task
        ends on its own thread, which then takes no further task."""
        if self._workers is not None:
            self._workers.release_slot()
        yield


class _Workers(Generic[K]):
    """Each worker takes the next ready task itself, under one lock, as soon as it is free: a task that ends
    and makes the next one ready hands it on without waking another thread (no dispatching thread, no
    futures). The callbacks run under that lock, one at a time, as they would on one dispatching thread."""

    def __init__(self, scheduler: Scheduler[K], run: _Run[K]):
        self.s = scheduler
        self.run = run
        self.lock = threading.Condition()
        self.running = 0
        self.stop: list[BaseException] = []  # a callback raised, or the caller was interrupted: start nothing
        self.threads: list[threading.Thread] = []  # grows when a task gives its slot up (release_slot)
        self.local = threading.local()  # .released: this worker's task gave its slot up

    def _spawn(self) -> None:
        thread = threading.Thread(target=self.work, name=f"scheduler-{len(self.threads)}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def release_slot(self) -> None:
        """The calling worker's task only waits from now on: another worker takes its slot."""
        if getattr(self.local, "released", False):
            return
        self.local.released = True
        with self.lock:
            if not self.stop:
                self._spawn()

    def _join_all(self) -> None:
        index = 0
        while index < len(self.threads):  # threads started meanwhile are joined too
            self.threads[index].join()
            index += 1

    def execute(self, jobs: int) -> dict[K, Outcome[K]]:
        with self.lock:
            for _ in range(jobs):
                self._spawn()
        try:
            self._join_all()
        except BaseException as exc:  # e.g. KeyboardInterrupt: what runs ends, nothing new starts
            self.halt(exc)
            self._join_all()
            raise
        if self.stop:
            raise self.stop[0]
        return self.run.outcomes

    def halt(self, exc: BaseException) -> None:
        with self.lock:
            self.stop.append(exc)
            self.lock.notify_all()

    def next_task(self) -> K | None:
        """The next task to run, once one is ready; None when none ever will be (or after a halt)."""
        with self.lock:
            while True:
                while not self.run.ready and self.running and not self.stop:
                    self.lock.wait()
                if self.stop or not self.run.ready:  # nothing ready and nothing running
                    self.lock.notify_all()
                    return None
                task = self.run.next_to_start()  # can still be skipped (fail fast, cancel)
                if task is not None:
                    self.running += 1
                    self.s.on_start(task)
                    return task

    def work(self) -> None:
        try:
            while not getattr(self.local, "released", False) and (task := self.next_task()) is not None:
                error: BaseException | None = None
                try:
                    self.s.run(task)
                except BaseException as exc:  # noqa: BLE001 - the outcome of the task
                    error = exc
                with self.lock:
                    self.running -= 1
                    self.run.finished(task, error)
                    self.lock.notify_all()
        except BaseException as exc:  # noqa: BLE001 - a callback's own failure: execute raises it
            self.halt(exc)


class _Run(Generic[K]):
    """The bookkeeping of one execution: outcomes, unmet needs, the ready queue."""

    def __init__(self, scheduler: Scheduler[K]):
        self.s = scheduler
        self.outcomes: dict[K, Outcome[K]] = {t: Outcome() for t in scheduler.needs}
        self.waiting = {t: len(set(ds)) for t, ds in scheduler.needs.items()}
        self.dependents: dict[K, list[K]] = {t: [] for t in scheduler.needs}
        for t, ds in scheduler.needs.items():
            for d in set(ds):
                self.dependents[d].append(t)
        self.chain = _chain_lengths(dict(self.waiting), self.dependents)
        self._order = itertools.count()
        self._heap: list[tuple[int, int, K]] = []
        self._push(t for t, n in self.waiting.items() if n == 0)
        self.first_failure: K | None = None

    @property
    def ready(self) -> bool:
        return bool(self._heap)

    def _push(self, tasks: Iterable[K]) -> None:
        for t in tasks:
            heapq.heappush(self._heap, (-self.chain[t], next(self._order), t))

    def next_to_start(self) -> K | None:
        """The next ready task to start, or None when it was skipped instead (fail fast, cancelled)."""
        task = heapq.heappop(self._heap)[2]
        if self.outcomes[task].state is not TaskState.PENDING:
            return None
        if (self.s.fail_fast and self.first_failure is not None) or self.s.cancel.is_set():
            self.skip(task, self.first_failure if self.first_failure is not None else task)
            return None
        self.outcomes[task].state = TaskState.RUNNING
        return task

    def finished(self, task: K, error: BaseException | None) -> None:
        if error is None:
            self.outcomes[task] = Outcome(TaskState.DONE)
            self.s.on_end(task, self.outcomes[task])
            for nxt in self.dependents[task]:
                self.waiting[nxt] -= 1
                if self.waiting[nxt] == 0:
                    self._push((nxt,))
            return
        self.outcomes[task] = Outcome(TaskState.FAILED, error=error)
        if self.first_failure is None:
            self.first_failure = task
        self.s.on_end(task, self.outcomes[task])
        for nxt in self.dependents[task]:
            self.skip(nxt, task)

    def skip(self, task: K, cause: K) -> None:
        """Skip ``task`` and everything that needs it, naming ``cause``."""
        todo = [task]
        while todo:
            t = todo.pop()
            if self.outcomes[t].state is not TaskState.PENDING:
                continue
            self.outcomes[t] = Outcome(TaskState.SKIPPED, cause=cause)
            self.s.on_end(t, self.outcomes[t])
            todo.extend(self.dependents[t])


def _chain_lengths(waiting: dict[K, int], dependents: Mapping[K, list[K]]) -> dict[K, int]:
    """task -> how many tasks the longest chain starting at it holds (itself included): Kahn's order from
    ``waiting`` (task -> its unmet needs; consumed), then one pass backwards. Tasks on a cycle never become
    ready; they count 1."""
    order = [t for t, n in waiting.items() if n == 0]
    for t in order:  # grows while it is walked: a topological order of every task not on a cycle
        for nxt in dependents[t]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                order.append(nxt)
    chain = dict.fromkeys(dependents, 1)
    for t in reversed(order):
        chain[t] = 1 + max((chain[d] for d in dependents[t]), default=0)
    return chain
