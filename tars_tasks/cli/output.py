"""Everything the tool shows: a live progress view, and reporters that turn results into text.

A reporter (TableReporter, JsonReporter) has one method per kind of result; the invoke tasks pick one with
`reporter(json_)` and print what it returns. Results go to stdout, progress and notes to stderr."""
from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from tars_tasks.core.errors import Problem
from tars_tasks.deploy.report import Report
from tars_tasks.plan.model import Plan


class ProgressView:
    """On a terminal: one redrawn line per service with its step and elapsed time. Otherwise: plain lines."""

    def __init__(self, ids: list[str], stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.ids = ids
        self.state: dict[str, tuple[str, float | None]] = {i: ("waiting", None) for i in ids}
        self._ended: dict[str, float] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = 0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if self.live and ids:  # keep elapsed times moving between events
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self._redraw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            with self._lock:
                self._redraw()

    def __call__(self, sid: str, step: str, message: str) -> None:
        with self._lock:
            now = time.monotonic()
            since = self.state.get(sid, ("", None))[1] or now
            self.state[sid] = (f"{step} {message}", since)
            if step == "deploy" and message.startswith(("done", "failed")) or message.startswith("failed"):
                self._ended[sid] = now
            if self.live:
                self._redraw()
            else:
                print(f"[{now - self.started:7.1f}s] {sid}: {step} {message}", file=self.stream, flush=True)

    def _redraw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        width = max((len(i) for i in self.ids), default=10)
        now = time.monotonic()
        for sid in self.ids:
            what, since = self.state[sid]
            finished = what.split(" ", 1)[-1].startswith(("done", "failed"))
            elapsed = f"{(self._ended.get(sid, now) if finished else now) - since:6.1f}s" if since else "       "
            self.stream.write(f"\x1b[2K{sid:<{width}}  {elapsed}  {what[:80]}\n")
        self._drawn = len(self.ids)
        self.stream.flush()


def plan_table(plan: Plan) -> str:
    rows = [("WAVE", "SERVICE", "CHANGED", "STEPS", "WHY")]
    for s in plan.services:
        rows.append((str(s.wave), s.id, "yes" if s.changed else "no", ",".join(s.steps) or "-", "; ".join(s.reasons)))
    return table(rows) + "".join(f"note: {n}\n" for n in plan.notes)


def report_table(report: Report) -> str:
    rows = [("SERVICE", "STATUS", "TIME", "IMAGE", "DETAIL")]
    for s in report.services:
        rows.append((s.id, s.status.value, f"{s.seconds:.1f}s", s.image, s.reason))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items()))
    mode = " (dry run)" if report.dry_run else ""
    return table(rows) + f"{summary} in {report.seconds:.1f}s{mode}\n"


def table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] + "\n" for r in rows)


class Reporter(Protocol):
    def listing(self, rows: list[dict[str, Any]]) -> str: ...
    def problems(self, problems: Sequence[Problem], services: int) -> str: ...
    def plan(self, plan: Plan) -> str: ...
    def report(self, report: Report) -> str: ...
    def images(self, results: Sequence[Any]) -> str: ...


class TableReporter:
    """Aligned columns for people."""

    def listing(self, rows: list[dict[str, Any]]) -> str:
        return table([("ID", "PATH", "TEMPLATE", "DEPENDS ON")] +
                     [(r["id"], r["path"], r["template"] or "-", ", ".join(r["dependsOn"]) or "-") for r in rows])

    def problems(self, problems: Sequence[Problem], services: int) -> str:
        return "".join(f"{p}\n" for p in problems)

    def plan(self, plan: Plan) -> str:
        return plan_table(plan)

    def report(self, report: Report) -> str:
        return report_table(report)

    def images(self, results: Sequence[Any]) -> str:
        return ""  # `build` shows one line per image on stderr as it goes


class JsonReporter:
    """One JSON document per result, for machines."""

    @staticmethod
    def _dump(data: Any) -> str:
        return json.dumps(data, indent=2) + "\n"

    def listing(self, rows: list[dict[str, Any]]) -> str:
        return self._dump(rows)

    def problems(self, problems: Sequence[Problem], services: int) -> str:
        errors = [p for p in problems if not p.warning]
        return self._dump({"valid": not errors, "services": services, "problems": [p.to_json() for p in problems]})

    def plan(self, plan: Plan) -> str:
        data = plan.to_json()
        return self._dump({"services": data["services"], "waves": data["waves"],
                           **{k: v for k, v in data.items() if k not in ("services", "waves")}})

    def report(self, report: Report) -> str:
        return self._dump(report.to_json())

    def images(self, results: Sequence[Any]) -> str:
        return self._dump({"images": [r.to_json() for r in results]})


def reporter(json_: bool) -> Reporter:
    return JsonReporter() if json_ else TableReporter()
