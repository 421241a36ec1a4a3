"""Child processes that a cancelled run must be able to stop: helm and a service's build.command.

Each child runs in its own process group (its own session): a Ctrl-C in the terminal reaches only this
tool, which then decides what to stop; ``stop_all`` sends SIGTERM to every running group, waits a bounded
time for them to exit (helm records a cancelled upgrade as failed instead of leaving it pending), then
SIGKILLs what is left. Nothing else in the package starts a long-running child.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

GRACE_SECONDS = 10.0

_running: set[subprocess.Popen[Any]] = set()
_lock = threading.Lock()


def run(argv: Sequence[str], timeout: float, cwd: Path | None = None, merge_stderr: bool = False,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Like subprocess.run(capture_output=True, text=True) in a process group of its own; on timeout the
    whole group is killed and subprocess.TimeoutExpired raised. ``stdin``: text written to the child's stdin
    (secret values go this way, never through a file); otherwise the child's stdin is empty."""
    proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
                            text=True, errors="replace", start_new_session=True)
    with _lock:
        _running.add(proc)
    try:
        try:
            out, err = proc.communicate(input=stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.communicate()
            raise
    finally:
        with _lock:
            _running.discard(proc)
    return subprocess.CompletedProcess(list(argv), proc.returncode, out or "", err or "")


@contextlib.contextmanager
def tracked(proc: subprocess.Popen[Any]) -> Iterator[subprocess.Popen[Any]]:
    """Make a child started elsewhere (in a process group of its own) stoppable by ``stop_all`` while it runs."""
    with _lock:
        _running.add(proc)
    try:
        yield proc
    finally:
        with _lock:
            _running.discard(proc)


def running() -> int:
    """How many children run now."""
    with _lock:
        return len(_running)


def stop_all(grace: float = GRACE_SECONDS) -> int:
    """SIGTERM every running child's group, wait up to ``grace`` seconds, SIGKILL the rest. Returns how many
    had to be killed."""
    with _lock:
        procs = list(_running)
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    killed = 0
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            killed += 1
    return killed


def _signal_group(proc: subprocess.Popen[Any], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # the child leads its own group (start_new_session)
