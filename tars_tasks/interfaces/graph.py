"""`invoke graph`: the dependsOn a person declared and the calls the source makes, side by side, as data, as
Graphviz DOT, or as SVG drawn by Graphviz's `dot` (when installed); and the dependsOn lists that would
match the calls (`--suggest`).

Each edge is one of: declared and called (solid), declared only (dashed: a dependency the scan did not see,
perhaps a database or a call through configuration), called only (red: the deploy order does not know it).
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tars_tasks.core.errors import TarsError, UsageError
from tars_tasks.core.graph import find_cycles
from tars_tasks.core.services import Service
from tars_tasks.interfaces.calls import Call, first_calls, object_names, scan
from tars_tasks.interfaces.sources import Homes, by_service, tracked_files

DOT_TIMEOUT = 120


@dataclass(frozen=True)
class Edge:
    caller: str
    callee: str
    declared: bool  # in the caller's dependsOn
    call: Call | None  # the first call found, None when declared only

    @property
    def kind(self) -> str:
        return "declared+called" if self.declared and self.call else "declared" if self.declared else "called"

    def to_json(self) -> dict:
        call = self.call
        return {"service": self.callee, "declared": self.declared, "called": call is not None,
                **({"object": call.written, "file": call.file, "line": call.line, "col": call.col} if call else {})}


@dataclass(frozen=True)
class Graph:
    services: list[str]  # ids, sorted
    edges: list[Edge]  # by caller, callee
    files: dict[str, str]  # id -> its values.yaml (as shown in messages)
    declared: dict[str, list[str]]  # id -> its dependsOn as written

    def from_service(self, sid: str) -> list[Edge]:
        return [e for e in self.edges if e.caller == sid]

    def to_json(self) -> dict:
        return {"services": [{"id": sid, "file": self.files[sid],
                              "edges": [e.to_json() for e in self.from_service(sid)]} for sid in self.services]}


def service_calls(root: Path, services_dir: str, services: Sequence[Service]) -> list[Call]:
    """Every call between services found in their tracked files (calls.py)."""
    homes = Homes(root, services)
    return scan(root, by_service(homes, tracked_files(root, services_dir)), object_names(services))


def build(services: Sequence[Service], calls: Sequence[Call]) -> Graph:
    named = sorted((s for s in services if s.app and s.server), key=lambda s: s.id)
    known = {s.id for s in named}
    first = first_calls(calls)
    edges = []
    for s in named:
        callees = {d for d in s.depends_on if d in known and d != s.id} | {c for (a, c) in first if a == s.id}
        for callee in sorted(callees):
            edges.append(Edge(s.id, callee, callee in s.depends_on, first.get((s.id, callee))))
    return Graph([s.id for s in named], edges, {s.id: s.display for s in named},
                 {s.id: list(s.depends_on) for s in named})


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_STYLE = {"declared+called": "", "declared": ' [style=dashed, label="declared, no call found"]',
          "called": ' [color=red, fontcolor=red, label="called, not in dependsOn"]'}


def to_dot(graph: Graph) -> str:
    """The graph in Graphviz's DOT language: one node per service (grouped by app), one edge per dependency."""
    lines = ["digraph services {", "  rankdir=LR;", "  node [shape=box, fontname=Helvetica];",
             "  edge [fontname=Helvetica, fontsize=10];"]
    apps: dict[str, list[str]] = {}
    for sid in graph.services:
        apps.setdefault(sid.split(".", 1)[0], []).append(sid)
    for i, (app, ids) in enumerate(sorted(apps.items())):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f"    label={_quoted(app)};")
        lines.extend(f"    {_quoted(sid)};" for sid in ids)
        lines.append("  }")
    for e in graph.edges:
        lines.append(f"  {_quoted(e.caller)} -> {_quoted(e.callee)}{_STYLE[e.kind]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot_text: str) -> str:
    """SVG drawn by Graphviz's `dot` (argv, no shell); a clear error when it is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise UsageError("graph --format svg needs Graphviz's `dot` on PATH (Debian/Ubuntu: apt-get install "
                         "graphviz); `--format dot` prints the graph for it")
    try:
        proc = subprocess.run([dot, "-Tsvg"], input=dot_text, capture_output=True, text=True, timeout=DOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise TarsError(f"dot -Tsvg did not finish in {DOT_TIMEOUT} s") from None
    if proc.returncode != 0:
        raise TarsError(f"dot -Tsvg failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Suggestion:
    service: str
    file: str  # its values.yaml
    depends_on: list[str]  # what would match the calls: the declared list plus what is called
    added: list[Call]  # calls not declared yet (first call of each)
    uncalled: list[str]  # declared, no call found (kept: the scan cannot see every dependency)

    def to_json(self) -> dict:
        return {"service": self.service, "file": self.file, "dependsOn": self.depends_on,
                "added": [{"service": c.callee, "object": c.written, "file": c.file, "line": c.line, "col": c.col}
                          for c in self.added],
                "uncalled": self.uncalled}


def suggest(graph: Graph) -> tuple[list[Suggestion], list[list[str]]]:
    """The dependsOn lists that would match the calls, for every service with a call it does not declare;
    and the cycles those lists would make (a cycle cannot be deployed: one of its calls must wait)."""
    out = []
    edges: dict[str, list[str]] = {}
    for sid in graph.services:
        mine = graph.from_service(sid)
        edges[sid] = [e.callee for e in mine]
        added = [e.call for e in mine if not e.declared and e.call is not None]
        if added:
            out.append(Suggestion(sid, graph.files[sid], graph.declared[sid] + [c.callee for c in added], added,
                                  [e.callee for e in mine if e.declared and e.call is None]))
    return out, find_cycles(edges)
