"""The generic scheduler: order, parallelism, failure isolation, fail-fast, cancellation."""
from __future__ import annotations

import threading
import time

from tars_tasks.deploy.scheduler import Scheduler, TaskState


def run(needs, fail=(), jobs=4, fail_fast=False, cancel_after=None):
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    cancel = threading.Event()

    def work(task: str) -> None:
        with lock:
            log.append(("start", task))
        time.sleep(0.01)
        with lock:
            log.append(("end", task))
        if task == cancel_after:
            cancel.set()
        if task in fail:
            raise RuntimeError(f"{task} broke")

    outcomes = Scheduler(needs, work, jobs, fail_fast, cancel=cancel).execute()
    return outcomes, log


def test_each_task_starts_after_everything_it_needs_ended():
    needs = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    outcomes, log = run(needs)
    assert {t: o.state for t, o in outcomes.items()} == {t: TaskState.DONE for t in needs}
    position = {event: i for i, event in enumerate(log)}
    for task, deps in needs.items():
        for dep in deps:
            assert position[("end", dep)] < position[("start", task)]


def test_independent_tasks_overlap():
    outcomes, log = run({"a": [], "b": [], "c": []}, jobs=3)
    assert [kind for kind, _ in log[:3]] == ["start", "start", "start"]


def test_failure_skips_only_what_needs_it_and_names_the_cause():
    needs = {"a": [], "b": ["a"], "c": ["b"], "x": [], "y": ["x"]}
    outcomes, _ = run(needs, fail={"a"})
    assert outcomes["a"].state is TaskState.FAILED and str(outcomes["a"].error) == "a broke"
    assert (outcomes["b"].state, outcomes["b"].cause) == (TaskState.SKIPPED, "a")
    assert (outcomes["c"].state, outcomes["c"].cause) == (TaskState.SKIPPED, "a")
    assert outcomes["y"].state is TaskState.DONE


def test_fail_fast_starts_nothing_after_the_first_failure():
    outcomes, log = run({"a": [], "b": ["a"], "z": ["a"], "later": ["b"]}, jobs=1, fail={"b"}, fail_fast=True)
    started = [t for kind, t in log if kind == "start"]
    assert started == ["a", "b"]  # z was ready, but not started: b had failed
    assert outcomes["later"].state is TaskState.SKIPPED


def test_cancel_starts_nothing_new():
    outcomes, log = run({"a": [], "b": ["a"], "c": ["b"]}, jobs=1, cancel_after="a")
    assert [t for kind, t in log if kind == "start"] == ["a"]
    assert outcomes["b"].state is TaskState.SKIPPED and outcomes["c"].state is TaskState.SKIPPED


def test_twenty_thousand_tasks_in_a_chain_complete():
    needs = {i: ([i - 1] if i else []) for i in range(20000)}
    outcomes = Scheduler(needs, lambda t: None, jobs=2).execute()
    assert all(o.state is TaskState.DONE for o in outcomes.values())


def test_the_longest_remaining_chain_starts_first():
    needs = {"short": [], "mid1": [], "mid2": ["mid1"], "long1": [], "long2": ["long1"], "long3": ["long2"]}
    _, log = run(needs, jobs=1)
    # long1 heads 3 tasks; then mid1 and long2 head 2 each (mid1 was ready first); short, mid2 and long3 head 1
    assert [t for kind, t in log if kind == "start"] == ["long1", "mid1", "long2", "short", "mid2", "long3"]


def test_a_diamond_runs_its_longer_branch_first_and_ties_keep_the_given_order():
    needs = {"a": [], "b": [], "c": ["b"], "d": [], "e": ["a", "c"]}
    _, log = run(needs, jobs=1)
    assert [t for kind, t in log if kind == "start"] == ["b", "a", "c", "d", "e"]


def test_a_callback_that_raises_stops_the_run_and_is_raised():
    import pytest

    started: list[str] = []

    def on_start(task: str) -> None:
        if task == "b":
            raise ValueError("progress view broke")
        started.append(task)

    needs = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"]}
    with pytest.raises(ValueError, match="progress view broke"):
        Scheduler(needs, lambda t: None, jobs=1, on_start=on_start).execute()
    assert started == ["a"]  # nothing started after the callback failed


def test_callbacks_never_overlap_even_with_many_workers():
    inside = threading.Lock()
    overlaps: list[str] = []

    def callback(task: int, *_: object) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(str(task))
            return
        time.sleep(0.0005)
        inside.release()

    needs = {i: [] for i in range(200)}
    outcomes = Scheduler(needs, lambda t: time.sleep(0.001), jobs=8, on_start=callback, on_end=callback).execute()
    assert overlaps == [] and all(o.state is TaskState.DONE for o in outcomes.values())


def test_a_task_that_only_waits_gives_its_slot_to_the_next_one():
    """One job: a deploy that tracks its rollout (waits) must not keep the next deploy from being applied."""
    others_ran = threading.Event()
    busy: list[int] = []
    running = [0]
    lock = threading.Lock()
    scheduler: Scheduler[str] = Scheduler({"a": [], "b": [], "c": []}, lambda task: None, jobs=1)

    def work(task: str) -> None:
        with lock:
            running[0] += 1
            busy.append(running[0])
        try:
            if task == "a":
                with scheduler.waiting():  # from here on "a" only waits for the others
                    assert others_ran.wait(timeout=5), "b and c never started while a was waiting"
            else:
                time.sleep(0.05)
                if task == "c" or task == "b":
                    with lock:
                        done.add(task)
                        if done == {"b", "c"}:
                            others_ran.set()
        finally:
            with lock:
                running[0] -= 1

    done: set[str] = set()
    scheduler.run = work
    outcomes = scheduler.execute()
    assert {t: o.state for t, o in outcomes.items()} == dict.fromkeys("abc", TaskState.DONE)
    assert max(busy) == 2  # the waiting one and one at work: b and c one after the other, never together
