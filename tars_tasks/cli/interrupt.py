"""SIGINT and SIGTERM during a release: start nothing new, ask running helm/build children to stop, and let
the task still print its (partial) report before exiting 130 / 143."""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType

from tars_tasks.core import children


class Interrupts:
    """``with Interrupts() as stop:`` — ``stop.cancel`` is set on the first signal; ``stop.code`` is its exit code."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.cancel = threading.Event()
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
        print(f"{signal.Signals(signum).name}: stopping (nothing new starts; running helm/build children are "
              "asked to stop)", file=sys.stderr, flush=True)
        threading.Thread(target=children.stop_all, name="stop-children", daemon=True).start()

    def __enter__(self) -> Interrupts:
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in self.SIGNALS}
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
