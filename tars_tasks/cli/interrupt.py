"""SIGINT and SIGTERM, one handling for every task: the children a task started (helm, a build's compile step,
each in a process group of its own: core/children.py) are stopped before the task exits 130 / 143.

- Every task runs under `Interrupts(cooperative=False)` (cli/common.py `reports_errors`): on a signal the
  running children are asked to stop (SIGTERM to their groups, SIGKILL after a grace period), then the task is
  interrupted where it is (`Stopped`, a KeyboardInterrupt) and exits 128 + the signal.
- Tasks that run work in parallel and report what became of each part (`build`, `release`, `deploy`) use
  `Interrupts()` (cooperative) around that work: ``stop.cancel`` is set, nothing new starts, the children are
  asked to stop, and the task still prints its (partial) report before exiting 130 / 143.
"""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType

from tars_tasks.core import children


class Stopped(KeyboardInterrupt):
    """A signal interrupted a task that does not watch ``cancel``; ``code`` is its exit code (128 + signal)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.code = 128 + signum


class Interrupts:
    """``with Interrupts() as stop:`` — ``stop.cancel`` is set on the first signal; ``stop.code`` is its exit code.
    ``cooperative=False``: the children are stopped at once and Stopped is raised in the main thread."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, cooperative: bool = True) -> None:
        self.cancel = threading.Event()
        self.cooperative = cooperative
        self.received: list[int] = []
        self._previous: dict[int, object] = {}

    @property
    def code(self) -> int:
        return 128 + self.received[0] if self.received else 0

    @property
    def name(self) -> str:
        return signal.Signals(self.received[0]).name if self.received else ""

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        self.cancel.set()
        if not self.cooperative:
            if children.running():
                print(f"{signal.Signals(signum).name}: stopping the running helm/build children", file=sys.stderr,
                      flush=True)
                children.stop_all()
            raise Stopped(signum)
        print(f"{signal.Signals(signum).name}: stopping (nothing new starts; running helm/build children are "
              "asked to stop)", file=sys.stderr, flush=True)
        threading.Thread(target=children.stop_all, name="stop-children", daemon=True).start()

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in self.SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
