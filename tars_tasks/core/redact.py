"""Secrets out of anything shown: argv of external programs and the text they print.

Two rules: the value after a secret-bearing flag (`--password x`, `--set a=b`), and `key=value` pairs whose
key names a secret (password, token, secret, apikey). Known secret values (registry passwords) are redacted
by value where they are known (build/registry.py).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

SECRET_FLAGS = ("--password", "--token", "--kube-token", "--set", "--set-string", "--set-file", "--set-json",
                "--password-stdin", "--username")
SECRET_WORDS = re.compile(r"(?i)(password|passwd|token|secret|apikey|api_key)=([^\s,]+)")


def redact(argv: Sequence[str]) -> list[str]:
    """argv as shown to people: the value after a secret-bearing flag, and key=secret pairs, hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            if eq:
                out.append(f"{flag}=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(SECRET_WORDS.sub(r"\1=***", arg))
    return out


def redact_text(text: str) -> str:
    return SECRET_WORDS.sub(r"\1=***", text)
