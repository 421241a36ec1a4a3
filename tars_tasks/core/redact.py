"""Secrets out of anything shown: argv of external programs, the text they print, logs and reports.

Three rules, applied by `redact_text` (and `redact` for argv):

- by value: every known secret value is replaced by `***` wherever it appears. Known values are the ones
  `register_secret` was given (the registry password, passwords and tokens of the docker config, the
  values of `build.secrets`, bearer tokens a registry handed out) plus the value of each variable in the
  environment at the time of the call whose value is a secret of this tool (core/credentials.py: the registry
  password, the age identity, DOCKER_AUTH_CONFIG, every TARS_SECRET_<NAME>). Values shorter than `MIN_SECRET_LENGTH` are
  not redacted (hiding every "a" would make output unreadable; such a value is not a secret anyway). A multi-line
  value is also hidden line by line: a program prints a secret file one line at a time, and a log is read a line
  at a time;
- the value after a secret-bearing flag (`--password x`, `--set a=b`);
- `key=value` pairs whose key names a secret (password, token, secret, apikey); the value ends at a space, a
  comma or a quote (a quoted value is hidden whole), so a quoted string holding the pair keeps its closing quote.

JSON is redacted as data, never as text: `redacted_json` hides secrets in the strings before encoding and marks
the result `Redacted`, which the redacting output stream (cli/common.py) passes through unchanged; rewriting
encoded JSON could eat a closing quote or turn a number into `***`, and the document would no longer parse.
"""
from __future__ import annotations

import base64
import json
import os
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from tars_tasks.core.credentials import secret_env_names

SECRET_FLAGS = ("--password", "--token", "--kube-token", "--set", "--set-string", "--set-file", "--set-json",
                "--password-stdin", "--username")
SECRET_WORDS = re.compile(r"""(?i)(password|passwd|token|secret|apikey|api_key)=("[^"\n]*"|'[^'\n]*'|[^\s,"']+)""")
MIN_SECRET_LENGTH = 4
MASK = "***"

_known: set[str] = set()
_lock = threading.Lock()
_cache: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


class Redacted(str):
    """Text already redacted (as data, before it was encoded): the redacting output stream writes it unchanged.
    `print` keeps the type (``__str__`` returns the text itself); any operation on it gives a plain str again."""

    __slots__ = ()

    def __str__(self) -> str:
        return self


def _needles(value: str) -> set[str]:
    """What hides ``value``: the value itself and, when it has several lines, each of them that is long enough
    to be a secret (stripped of the spaces around it)."""
    if len(value) < MIN_SECRET_LENGTH:
        return set()
    lines = {line.strip() for line in value.splitlines()} if "\n" in value or "\r" in value else set()
    return {value} | {line for line in lines if len(line) >= MIN_SECRET_LENGTH}


def register_secret(value: str | None, *, encodings: bool = True) -> None:
    """Remember ``value`` as a secret: from now on `redact_text` hides it, and each of its lines (and, with
    ``encodings``, its base64 form, as in a Basic header or a docker config `auth`)."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _known.update(_needles(value))
        if encodings:
            _known.add(base64.b64encode(value.encode()).decode().rstrip("="))


def register_secrets(values: Iterable[str]) -> None:
    for value in values:
        register_secret(value)


def known_secrets() -> frozenset[str]:
    """Every value redacted now: the registered ones and those of the secret variables of the environment."""
    env = set().union(*(_needles(os.environ.get(name, "")) for name in secret_env_names(os.environ)))
    with _lock:
        return frozenset(env | _known)


def _by_value(text: str) -> str:
    global _cache
    secrets = known_secrets()
    if not secrets:
        return text
    cached_for, pattern = _cache  # one tuple: threads never see one secret set with another's pattern
    if pattern is None or cached_for != secrets:  # longest first: a secret containing another is hidden whole
        pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
        _cache = (secrets, pattern)
    return pattern.sub(MASK, text)


def redact(argv: Sequence[str]) -> list[str]:
    """argv as shown to people: known secret values, the value after a secret-bearing flag, and key=secret
    pairs, hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if flag in SECRET_FLAGS:
            if eq:
                out.append(f"{flag}={MASK}")
            else:
                out.append(_by_value(arg))
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out


def redact_text(text: str) -> str:
    """``text`` with every known secret value and every key=secret pair hidden."""
    return SECRET_WORDS.sub(rf"\1={MASK}", _by_value(text))


def redact_data(value: Any) -> Any:
    """``value`` (maps, lists, scalars, as parsed from JSON or YAML) with `redact_text` applied to every string:
    a secret is hidden before the data is encoded, where JSON or YAML may escape or fold it (a multi-line secret
    in a JSON string is no longer the secret's own text)."""
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redacted_json(data: Any, indent: int | None = 2) -> Redacted:
    """``data`` as a JSON document (ending with a newline), every string redacted before encoding: always valid
    JSON, whatever a secret or a key=secret pair looks like once escaped."""
    return Redacted(json.dumps(redact_data(data), indent=indent) + "\n")
