"""Canary releases: a new pod revision reaches a few pods first, is checked, and goes on or backs out.

A TServer is a StatefulSet, and the operator copies `spec.k8s.updateStrategy` into it, so
`rollingUpdate.partition: P` moves only the pods with ordinal >= P to the new revision (highest first, one at a
time, each Ready before the next). The TARS registry serves every active pod: the share of traffic on the new
version is the share of pods on it. Each step is a helm upgrade of the same chart with the partition set as a
value (`updateStrategy.rollingUpdate.partition`), so helm's record always says what the cluster was asked to
run; the last step is the plain upgrade, the very revision a deploy without a canary makes, and it is the one
marked verified.

Declared in values.yaml (and overlays) as ``canary: {steps: [25, 50, 100], pause: 2m | manual, check: [argv]}``
or for every changed service of a run with ``--canary 25,50,100 [--canary-pause 30s]``.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from tars_tasks.core.errors import UsageError
from tars_tasks.core.redact import redact_text

MANUAL = "manual"
CANARY_ANNOTATION = "tars-tasks.io/canary"  # on the TServer while a canary is paused at a step (JSON)
DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
CHECK_OUTPUT_LINES = 50


def pause_seconds(text: str) -> float:
    """A duration like `30s`, `2m`, `1m30s` in seconds (the caller checked it matches DURATION)."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(v) * units[u] for v, u in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text))


def step_problems(steps: Any) -> list[tuple[list[Any], str]]:
    """Why ``steps`` is not a canary's list of percents, each at its path under `steps` (empty: it is)."""
    if not isinstance(steps, list) or not steps:
        return [([], "must be a non-empty list of percents, such as [25, 50, 100]")]
    out: list[tuple[list[Any], str]] = []
    for i, step in enumerate(steps):
        if not isinstance(step, int) or isinstance(step, bool) or not 1 <= step <= 100:
            out.append(([i], f"{step!r} must be a whole percent from 1 to 100"))
        elif i and isinstance(steps[i - 1], int) and step <= steps[i - 1]:
            out.append(([i], f"{step} must be greater than the step before it ({steps[i - 1]})"))
    if not out and steps[-1] != 100:
        out.append(([len(steps) - 1], f"the last step must be 100 (all pods), not {steps[-1]}"))
    return out


def pause_problems(pause: Any) -> list[str]:
    if pause is None or pause == MANUAL or (isinstance(pause, str) and DURATION.match(pause)):
        return []
    return [f"pause: {pause!r} must be a duration such as 30s, 2m, 1m30s, or \"manual\""]


@dataclass(frozen=True)
class CanarySpec:
    """How one service canaries: percents in order, the pause between steps (None: manual), the check."""

    steps: tuple[int, ...]
    pause: float | None = 0.0
    check: tuple[str, ...] = ()

    @property
    def manual(self) -> bool:
        return self.pause is None

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> CanarySpec | None:
        """The `canary` block of a (validated) values.yaml; None when it declares none."""
        block = values.get("canary")
        if not isinstance(block, dict) or not block.get("steps"):
            return None
        pause = block.get("pause")
        return cls(tuple(block["steps"]), None if pause == MANUAL else pause_seconds(str(pause or "0s")),
                   tuple(block.get("check") or ()))

    @classmethod
    def from_flags(cls, steps: str, pause: str | None) -> CanarySpec:
        """`--canary 25,50,100 [--canary-pause 30s|manual]`; a UsageError names the flag."""
        try:
            parsed: list[Any] = [int(s) for s in steps.split(",")]
        except ValueError:
            raise UsageError(f"--canary: {steps!r} must be percents separated by commas, such as 25,50,100") from None
        problems = [f"--canary: {text}" for _, text in step_problems(parsed)]
        problems += [f"--canary-pause: {text.split(': ', 1)[1]}" for text in pause_problems(pause)]
        if problems:
            raise UsageError("; ".join(problems))
        return cls(tuple(parsed), None if pause == MANUAL else pause_seconds(pause or "0s"))

    def with_overrides(self, override: CanarySpec | None) -> CanarySpec:
        """The command line's steps and pause over the declared ones; the declared check is kept."""
        if override is None:
            return self
        return CanarySpec(override.steps, override.pause, override.check or self.check)


@dataclass(frozen=True)
class CanaryStep:
    number: int  # 1-based
    percent: int
    updated: int  # pods on the new revision once the step is done
    partition: int  # replicas - updated


def plan_steps(replicas: int, steps: Sequence[int]) -> tuple[list[CanaryStep], str]:
    """The partitions of a canary over ``replicas`` pods: ``P = replicas - ceil(replicas * step / 100)``, at
    least one pod in the first step; a step that moves no further pod than the one before is left out. One
    replica (or none) goes straight to 100, with the warning returned."""
    if replicas <= 1:
        return [CanaryStep(1, 100, replicas, 0)], (f"{replicas} replica(s): a canary needs at least 2 pods; "
                                                   "going straight to 100%")
    out: list[CanaryStep] = []
    for percent in steps:
        updated = max(1, math.ceil(replicas * percent / 100))
        if out and updated <= out[-1].updated:
            continue
        out.append(CanaryStep(len(out) + 1, percent, updated, replicas - updated))
    return out, ""


@dataclass
class CheckResult:
    argv: list[str]
    exit_code: int | None  # None: it could not run or timed out
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"argv": self.argv, "exitCode": self.exit_code, "ok": self.ok}
        if self.error:
            out["error"] = self.error
        return out


def run_check(argv: Sequence[str], env: Mapping[str, str], cwd: str, log: TextIO, timeout: float) -> CheckResult:
    """Run a step's check (no shell) with ``env`` added to ours; its output goes to the log, secrets hidden."""
    try:
        proc = subprocess.run(list(argv), env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        why = f"timed out after {timeout:.0f}s" if isinstance(exc, subprocess.TimeoutExpired) else str(exc)
        log.write(f"canary check {argv[0]}: {why}\n")
        return CheckResult(list(argv), None, why)
    lines = (proc.stdout + proc.stderr).splitlines()[-CHECK_OUTPUT_LINES:]
    log.writelines(f"check| {redact_text(line)}\n" for line in lines)
    log.write(f"canary check exited {proc.returncode}\n")
    return CheckResult(list(argv), proc.returncode,
                       "" if proc.returncode == 0 else redact_text(lines[-1]) if lines else "")


def wait_pause(seconds: float, cancel: threading.Event) -> bool:
    """Sleep out a pause; False when a signal came first."""
    return not cancel.wait(seconds) if seconds > 0 else not cancel.is_set()


@dataclass
class CanaryReport:
    """What the canary did, for --json and the log: each step's pods per revision and check."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    aborted: dict[str, Any] | None = None
    note: str = ""
    previous: int = 0  # the revision an abort goes back to
    replicas: int = 0
    percents: list[int] = field(default_factory=list)
    chart: str = ""  # <name>-<version> the canary deploys (promote refuses another)
    paused: dict[str, Any] | None = None  # what is recorded on the TServer when it stops at a step

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"steps": self.steps}
        for key, value in (("aborted", self.aborted), ("paused", self.paused), ("note", self.note)):
            if value:
                out[key] = value
        return out


def write_pause(paused: Mapping[str, Any]) -> str:
    return json.dumps(dict(paused), sort_keys=True, separators=(",", ":"))


def read_pause(text: Any) -> dict[str, Any] | None:
    """The paused canary recorded on a TServer; None when there is none (or it is not ours to read)."""
    try:
        data = json.loads(text) if isinstance(text, str) and text else None
    except json.JSONDecodeError:
        return None
    keys = ("step", "of", "revision", "previous", "replicas", "percents")
    return data if isinstance(data, dict) and all(k in data for k in keys) else None


def paused_message(sid: str, paused: Mapping[str, Any]) -> str:
    """What a person reads about a paused canary: where it is and what to do."""
    return (f"canary {paused.get('step')}/{paused.get('of')} of {sid} is paused (revision {paused.get('revision')}): "
            f"`invoke promote --service {sid}` goes on, `invoke abort --service {sid}` backs out to revision "
            f"{paused.get('previous')}")
