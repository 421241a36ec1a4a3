"""The queue over build engines (image/pool.py), with stand-in engines: who gets the next build, how many at once."""
from __future__ import annotations

import threading
import time

import pytest

from tars_tasks.image.engine import BUILDKIT, Engine, EngineDown
from tars_tasks.image.pool import EnginePool, NoEngine


class Closable:
    closed = False

    def close(self) -> None:
        self.closed = True


def connector(down: set[str], calls: list[str]):
    def connect(address: str, mode: str) -> Engine:
        calls.append(address)
        if address in down:
            raise EngineDown("connection refused")
        return Engine(address, Closable(), BUILDKIT)  # type: ignore[arg-type]
    return connect


def test_each_build_takes_the_least_busy_engine_first_listed_on_a_tie():
    calls: list[str] = []
    pool = EnginePool(["a", "b"], jobs=4, connect=connector(set(), calls))
    with pool.engine() as first, pool.engine() as second, pool.engine() as third:
        assert [first.address, second.address, third.address] == ["a", "b", "a"]
    assert pool.per_engine == 2 and calls == ["a", "b"]  # contacted once, not per build


def test_a_full_engine_makes_the_next_build_wait_for_a_free_slot():
    pool = EnginePool(["a"], jobs=1, connect=connector(set(), []))
    order: list[str] = []

    def second_build() -> None:
        with pool.engine():
            order.append("second got it")

    with pool.engine():
        waiter = threading.Thread(target=second_build)
        waiter.start()
        time.sleep(0.2)
        order.append("first done")
    waiter.join(5)
    assert order == ["first done", "second got it"]


def test_a_down_engine_is_left_out_with_one_warning_and_all_down_is_an_error_naming_each():
    said: list[list[str]] = []
    pool = EnginePool(["a", "b"], jobs=2, connect=connector({"a"}, []))
    for _ in range(3):
        with pool.engine(said.append) as engine:
            assert engine.address == "b"
    assert said == [["build engine a is down, builds go to the others (connection refused)"]]
    assert pool.per_engine == 2  # the run's jobs over the one live engine
    calls: list[str] = []
    dead = EnginePool(["a", "b"], connect=connector({"a", "b"}, calls))
    for _ in range(2):  # every build fails the same way, the engines are not contacted again
        with pytest.raises(NoEngine, match=r"^no build engine answers: a \(connection refused\); "
                                           r"b \(connection refused\)$"), dead.engine():
            pass
    assert sorted(calls) == ["a", "b"]


def test_builder_jobs_sets_the_builds_per_engine_and_close_closes_every_client():
    pool = EnginePool(["a", "b"], jobs=8, per_engine=1, connect=connector(set(), []))
    with pool.engine() as a, pool.engine() as b:
        assert (a.address, b.address, pool.per_engine) == ("a", "b", 1)
    pool.close()
    assert all(e.client.closed for e in pool.live)  # type: ignore[attr-defined]
