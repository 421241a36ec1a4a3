"""The loop of the fake's controllers (operator, TConfig controller): call tick() every tick_seconds on a thread
of its own until stopped; a failing tick is kept in .errors (tests read them) and the loop goes on."""
from __future__ import annotations

import threading
import traceback


class Ticker:
    def __init__(self, tick_seconds: float, name: str):
        self.tick_seconds = tick_seconds
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def tick(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a fake must keep running; the test reads .errors
                self.errors.append(traceback.format_exc())
