"""The dependsOn graph: unknown ids, cycles (named), waves, dependents and dependencies."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence

from tars_tasks.core.errors import Problem, TarsError
from tars_tasks.core.services import Service


def dependency_problems(services: Sequence[Service], known: Mapping[str, Sequence[str]] | None = None) -> list[Problem]:
    """Unknown ids and cycles in the dependsOn of ``services``; ``known`` (Discovery.graph): the other ids of
    the repository and the dependsOn of those the services reach, when only some files were parsed."""
    by_id = {s.id: s for s in services if s.app and s.server}
    problems = []
    for s in services:
        deps = s.values.get("dependsOn")
        if not isinstance(deps, list):
            continue
        for i, dep in enumerate(deps):
            if not isinstance(dep, str):
                continue
            if dep == s.id:
                problems.append(s.problem(["dependsOn", i], f"{dep} depends on itself"))
            elif dep not in by_id and (known is None or dep not in known) and "." in dep:
                problems.append(s.problem(["dependsOn", i], f"{dep} is not a service in this repository"))
    edges: dict[str, Sequence[str]] = dict(known or {})
    edges.update((sid, s.depends_on) for sid, s in by_id.items())
    if known is not None:  # only what the parsed services reach
        edges = {sid: edges[sid] for sid in closure(by_id, edges) if sid in edges}
    for cycle in find_cycles({sid: [d for d in deps if d in edges and d != sid] for sid, deps in edges.items()}):
        first = by_id.get(cycle[0])
        if first is None:  # pragma: no cover - core/index.py parses every member of a cycle it finds
            continue
        idx = first.depends_on.index(cycle[1]) if len(cycle) > 1 else 0
        problems.append(first.problem(["dependsOn", idx], "dependency cycle: " + " -> ".join(cycle + [cycle[0]])))
    return problems


def find_cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Each elementary cycle found by DFS once, rotated to start at its smallest id (deterministic)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = {n: WHITE for n in edges}
    stack: list[str] = []
    cycles: list[list[str]] = []
    seen: set[tuple] = set()

    def visit(node: str) -> None:
        color[node] = GREY
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if color.get(nxt) == GREY:
                cyc = stack[stack.index(nxt):]
                start = cyc.index(min(cyc))
                cyc = cyc[start:] + cyc[:start]
                if tuple(cyc) not in seen:
                    seen.add(tuple(cyc))
                    cycles.append(cyc)
            elif color.get(nxt) == WHITE:
                visit(nxt)
        stack.pop()
        color[node] = BLACK

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * len(edges) + 100))
    try:
        for n in sorted(edges):
            if color[n] == WHITE:
                visit(n)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


def waves(ids: Iterable[str], edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Layers of the selected ids: wave 0 has no dependency among the selected, wave n only on waves < n.

    Kahn's algorithm, O(services + edges); a cycle among the selected is an error naming it.
    """
    selected = set(ids)
    deps = {i: {d for d in edges.get(i, ()) if d in selected and d != i} for i in selected}
    dependents: dict[str, list[str]] = {i: [] for i in selected}
    for i, ds in deps.items():
        for d in ds:
            dependents[d].append(i)
    missing = {i: len(ds) for i, ds in deps.items()}
    level: dict[str, int] = {}
    current = sorted(i for i, n in missing.items() if n == 0)
    out: list[list[str]] = []
    while current:
        out.append(current)
        nxt = []
        for i in current:
            level[i] = len(out) - 1
            for dep in dependents[i]:
                missing[dep] -= 1
                if missing[dep] == 0:
                    nxt.append(dep)
        current = sorted(nxt)
    if len(level) != len(selected):
        remaining = {i: sorted(deps[i]) for i in selected if i not in level}
        cycle = find_cycles(remaining)
        raise TarsError("dependency cycle: " + " -> ".join(cycle[0] + [cycle[0][0]]) if cycle else "dependency cycle")
    return out


def closure(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    """``start`` plus everything reachable from it along ``edges``."""
    seen = set(start)
    todo = list(seen)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def reverse(edges: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    rev: dict[str, list[str]] = {n: [] for n in edges}
    for n, ds in edges.items():
        for d in ds:
            rev.setdefault(d, []).append(n)
    return rev


def edges_of(services: Iterable[Service]) -> dict[str, list[str]]:
    return {s.id: list(s.depends_on) for s in services}
