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


class DeadlinePassed(TarsError):
    """The work did not finish by its deadline."""


def within(work: Callable[[], T], deadline: float, message: str) -> T:
    """``work()``'s result, or its exception, when it ends before ``deadline`` (a time.monotonic() value);
    otherwise DeadlinePassed(``message``)."""
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
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise DeadlinePassed(message)
    if "error" in box:
        raise box["error"]
    return box["result"]
