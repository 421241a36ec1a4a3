"""Everything the tool shows: a live progress view, and reporters that turn results into text.

A reporter (TableReporter, JsonReporter) has one method per kind of result; the invoke tasks pick one with
`reporter(json_)` and print what it returns. Results go to stdout, progress and notes to stderr.

Whatever came from input (ids and folder names, a saved plan's reasons, notes, messages, values) is shown
through `escape` (core/escape.py): every cell of a table, every note and progress line; JSON escapes control
characters itself. Secrets are hidden by value on the way out (cli/common.py) and, for JSON, in the data before
it is encoded (a multi-line secret is no longer its own text once JSON-escaped)."""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from tars_tasks.core.errors import Problem, errors_only
from tars_tasks.core.escape import escape, escape_lines
from tars_tasks.core.redact import redacted_json
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
            self.state[sid] = (escape(f"{step} {message}"), since)
            if step == "deploy" and message.startswith(("done", "failed")) or message.startswith("failed"):
                self._ended[sid] = now
            if self.live:
                self._redraw()
            else:
                print(f"[{now - self.started:7.1f}s] {escape(sid)}: {escape(step)} {escape(message)}", file=self.stream,
                      flush=True)

    def _redraw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F")
        width = max((len(i) for i in self.ids), default=10)
        now = time.monotonic()
        for sid in self.ids:
            what, since = self.state[sid]
            finished = what.split(" ", 1)[-1].startswith(("done", "failed"))
            elapsed = f"{(self._ended.get(sid, now) if finished else now) - since:6.1f}s" if since else "       "
            self.stream.write(f"\x1b[2K{escape(sid):<{width}}  {elapsed}  {what[:80]}\n")
        self._drawn = len(self.ids)
        self.stream.flush()


def plan_table(plan: Plan) -> str:
    rows = [("WAVE", "SERVICE", "CHANGED", "STEPS", "WHY")]
    for s in plan.services:
        rows.append((str(s.wave), s.id, "yes" if s.changed else "no", ",".join(s.steps) or "-", "; ".join(s.reasons)))
    return table(rows) + notes(plan.notes)


def report_table(report: Report) -> str:
    rows = [("SERVICE", "STATUS", "TIME", "IMAGE", "DETAIL")]
    for s in report.services:
        rows.append((s.id, s.status.value, f"{s.seconds:.1f}s", s.image, s.reason))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items()))
    mode = " (dry run)" if report.dry_run else ""
    return table(rows) + f"{summary} in {report.seconds:.1f}s{mode}\n" + notes(report.notes)


def notes(texts: Sequence[str]) -> str:
    return "".join(f"note: {escape(n)}\n" for n in texts)


def table(rows: Sequence[tuple[str, ...]]) -> str:
    """Aligned columns; every cell escaped (a cell is one line, whatever its text holds)."""
    rows = [tuple(escape(c) for c in r) for r in rows]
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
        return redacted_json(data)

    def listing(self, rows: list[dict[str, Any]]) -> str:
        return self._dump(rows)

    def problems(self, problems: Sequence[Problem], services: int) -> str:
        errors = errors_only(problems)
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


# --- operate: status, diff, history, prune (tars_tasks/operate) ---------------------------------------------

def _version(chart: str, name: str) -> str:
    """A chart reference without the release name in front (`base-logserver-0.0.0-rabc` -> `0.0.0-rabc`)."""
    return chart[len(name) + 1:] if chart.startswith(name + "-") else chart or "-"


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else image or "-"


def status_text(report: Any, json_: bool) -> str:
    """`invoke status`: one row per service (and orphan), then counts and notes."""
    if json_:
        return JsonReporter._dump(report.to_json())
    rows = [("SERVICE", "VERDICT", "REV", "HELM", "RUNS", "GIT WOULD DEPLOY", "IMAGE TAG", "RELEASE ID", "REPLICAS",
             "PODS", "DETAIL")]
    for s in report.services:
        replicas = "-" if s.replicas_live is None else f"{s.replicas_live}/{s.replicas_declared}"
        pods = f"{s.pods_ready}/{s.pods_desired}" + (f" {s.worst_pod}" if s.worst_pod else "")
        rows.append((s.id or s.release, s.verdict, str(s.revision or "-"), s.helm_status or "-",
                     _version(s.chart, s.release), _version(s.wanted_chart, s.release), _tag(s.image),
                     s.release_id or "-", replicas, pods if s.helm_status else "-", "; ".join(s.details)))
    summary = ", ".join(f"{n} {k}" for k, n in sorted(report.counts().items()))
    return table(rows) + f"{summary} in namespace {report.namespace} (REPLICAS: live/declared)\n" + \
        notes(report.notes)


def diff_text(diffs: Sequence[Any], json_: bool) -> str:
    """`invoke diff`: the unified diffs, one service after another."""
    if json_:
        return JsonReporter._dump({"differs": bool(diffs), "services": [d.to_json() for d in diffs]})
    out = []
    for d in diffs:
        out.append(f"=== {escape(d.id)} ({d.verdict})\n" + notes(d.notes) + escape_lines(d.text))
    return "".join(out)


def history_text(release: str, revisions: Sequence[Any], json_: bool) -> str:
    """`invoke history`: helm's revisions of one release, oldest first."""
    if json_:
        return JsonReporter._dump({"release": release, "revisions": [r.to_json() for r in revisions]})
    rows = [("REVISION", "UPDATED", "STATUS", "CHART", "IMAGE TAG", "DESCRIPTION")]
    rows += [(str(r.revision), r.updated[:19].replace("T", " "), r.status, _version(r.chart, release),
              r.image_tag or "-", r.description) for r in revisions]
    return table(rows)


def prune_text(orphans: Sequence[Any], results: Sequence[tuple[str, str]] | None, json_: bool) -> str:
    """`invoke prune`: the orphans, and what became of each when they were uninstalled."""
    done = dict(results or [])
    if json_:
        return JsonReporter._dump({"orphans": [{"release": o.release, "id": o.id, "chart": o.chart,
                                                "uninstalled": o.release in done and not done[o.release],
                                                "error": done.get(o.release, "")} for o in orphans]})
    rows = [("RELEASE", "SERVICE", "CHART", "ACTION")]
    for o in orphans:
        action = "kept (add --yes to uninstall)" if results is None else \
            "not started (interrupted)" if o.release not in done else \
            "uninstalled" if not done[o.release] and o.chart else "configs removed" if not done[o.release] else \
            done[o.release] if done[o.release].startswith("interrupted: ") else f"FAILED: {done[o.release]}"
        rows.append((o.release, o.id or "-", _version(o.chart, o.release), action))
    return table(rows) if orphans else "no orphaned releases\n"
