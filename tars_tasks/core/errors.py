"""Exceptions that carry an exit code, and the one-line problems found in user files.

Exit codes: 0 ok, 1 invalid input or failed work, 2 usage or configuration error.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tars_tasks.core.escape import escape


class TarsError(Exception):
    """An expected failure: printed as one line, never as a traceback."""

    exit_code = 1


class UsageError(TarsError):
    exit_code = 2


class InputError(TarsError):
    """User files are invalid; ``problems`` holds every located problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    col: int
    path: str
    message: str
    warning: bool = False

    def __post_init__(self) -> None:  # one problem, one line: fold any newline a library put in a message
        if "\n" in self.message:
            object.__setattr__(self, "message", " ".join(self.message.split()))

    def __str__(self) -> str:  # file, path and message may come from input: shown escaped, on one line
        where = f"{escape(self.file)}:{self.line}:{self.col}"
        what = f"{escape(self.path)}: {escape(self.message)}" if self.path else escape(self.message)
        return f"{where}: {'warning: ' if self.warning else ''}{what}"

    def to_json(self) -> dict:
        return {"file": self.file, "line": self.line, "col": self.col, "path": self.path,
                "message": self.message, "severity": "warning" if self.warning else "error"}


def errors_only(problems: Iterable[Problem]) -> list[Problem]:
    """The problems that stop work (warnings do not)."""
    return [p for p in problems if not p.warning]
