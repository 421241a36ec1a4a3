"""A string enum that prints as its value (as `StrEnum` does on Python 3.11+; this package supports 3.9)."""
from __future__ import annotations

from enum import Enum


class TextEnum(str, Enum):
    """Statuses and steps: compare equal to their text, serialise to it, print as it."""

    def __str__(self) -> str:
        return str(self.value)
