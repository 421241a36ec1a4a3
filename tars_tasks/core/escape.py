"""Control characters out of what people read: text that came from input (folder names, a saved plan's reasons,
values, a container's log) is shown with every C0/C1 control character and DEL written as an escape (`\\n`,
`\\x1b`), so it cannot forge a line (`ok: 7 service(s) valid`), move the cursor or recolour the terminal.

`escape` is for one field (a table cell, a name, a message): nothing is kept. `escape_lines` is for streams
written line by line (logs): the newline and the tab that separate the text's own lines stay.
"""
from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one(match: re.Match[str]) -> str:
    char = match.group(0)
    return _NAMED.get(char) or f"\\x{ord(char):02x}"


def escape(text: str) -> str:
    """``text`` as one field: every control character escaped (a newline becomes the two characters `\\n`)."""
    return _CONTROL.sub(_one, text) if _CONTROL.search(text) else text


def escape_lines(text: str) -> str:
    """``text`` written as lines: every control character but newline and tab escaped."""
    return _CONTROL_BUT_LINES.sub(_one, text) if _CONTROL_BUT_LINES.search(text) else text
