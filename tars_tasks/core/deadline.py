"""A deadline for work that may block on a peer that stopped answering (a docker engine stopped with SIGSTOP,
a host whose socket accepts and never replies): the docker SDK's timeout is per socket read, and a build or a
push streams for minutes, so no single timeout bounds the whole call.

`within` runs the work in a daemon thread and waits until the deadline: past it, DeadlinePassed is raised in
the caller and the thread is abandoned (its blocked read ends with the process; whatever it raises later is
dropped, never printed). The work must not hold a lock the caller needs afterwards.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tars_tasks.core.errors import TarsError

T = TypeVar("T")
POLL = 0.2  # seconds between looks at ``cancel``
GRACE = 12.0  # seconds cancelled work may take to end by itself (children get 10 s before SIGKILL)


class DeadlinePassed(TarsError):
    """The work did not finish by its deadline."""


class Cancelled(TarsError):
    """The work was given up because ``cancel`` was set (a signal)."""


def within(work: Callable[[], T], deadline: float, message: str, cancel: threading.Event | None = None) -> T:
    """``work()``'s result, or its exception, when it ends before ``deadline`` (a time.monotonic() value);
    otherwise DeadlinePassed(``message``). ``cancel`` set: Cancelled once the work has had GRACE seconds to
    end on its own (its children were asked to stop: core/children.py)."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, who decides
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="bounded-work", daemon=True).start()
    given_up: float | None = None
    while not done.wait(min(POLL, max(0.0, deadline - time.monotonic()))):
        now = time.monotonic()
        if now >= deadline:
            raise DeadlinePassed(message)
        if cancel is not None and cancel.is_set():
            given_up = given_up or now + GRACE
            if now >= given_up:
                raise Cancelled("interrupted")
    if "error" in box:
        raise box["error"]
    return box["result"]
