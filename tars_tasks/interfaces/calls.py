"""Who calls whom: a service calls another when its source names one of the other's servants by its full
object name, `App.Server.ObjName` (`stringToProxy<HelloPrx>("Base.HelloServer.HelloObj")`, a locator in a
config), in any language. TARS matches object names ignoring case, and so does this scan.

One pass per file, linear in its size: a regular expression finds every dotted triple of names and a
dictionary look-up (lower case) keeps those that are servants of the monorepo. Binary files (a NUL byte in
the first 8 KiB), files over 1 MiB (generated or vendored code, data) and symlinks are not read. The first
use of each object name in a service (by path, then by place in the file) is what a message points at.
"""
from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.interfaces.owners import servants

MAX_SOURCE_BYTES = 1 << 20
BINARY_PROBE = 8192
_TRIPLE = re.compile(rb"(?<![\w.])[A-Za-z]\w*\.[A-Za-z]\w*\.[A-Za-z]\w*(?!\w)")


@dataclass(frozen=True)
class Call:
    caller: str  # App.Server of the calling service
    callee: str  # App.Server of the called service
    servant: str  # the callee's servant, as its values.yaml names it
    written: str  # the object name as the source writes it
    file: str  # repo-relative
    line: int
    col: int

    @property
    def object_name(self) -> str:
        return f"{self.callee}.{self.servant}"

    def where(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def object_names(services: Iterable[Service]) -> dict[bytes, tuple[str, str]]:
    """lower-case `App.Server.Servant` -> (App.Server, servant) for every servant of the monorepo."""
    names: dict[bytes, tuple[str, str]] = {}
    for s in services:
        if s.app and s.server:
            for _, servant in servants(s):
                names[f"{s.id}.{servant['name']}".lower().encode()] = (s.id, servant["name"])
    return names


def read_source(path: str) -> bytes | None:
    """The bytes of a regular text file of at most MAX_SOURCE_BYTES; None for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None  # a symlink (O_NOFOLLOW), gone, unreadable
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SOURCE_BYTES:
            return None
        data = os.read(fd, MAX_SOURCE_BYTES + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) > MAX_SOURCE_BYTES or b"\0" in data[:BINARY_PROBE]:
        return None
    return data


def written_names(data: bytes) -> Iterator[bytes]:
    """Every dotted triple of names ``data`` writes (what scan_file looks up), lower-cased."""
    return (match.group().lower() for match in _TRIPLE.finditer(data))


def scan_file(data: bytes, names: Mapping[bytes, tuple[str, str]], caller: str, path: str,
              seen: set[bytes]) -> list[Call]:
    """The first use in ``data`` of each object name not in ``seen`` (updated), other than the caller's own."""
    found: list[Call] = []
    for match in _TRIPLE.finditer(data):
        key = match.group().lower()
        hit = names.get(key)
        if hit is None or key in seen or hit[0] == caller:
            continue
        seen.add(key)
        start = match.start()
        line_start = data.rfind(b"\n", 0, start) + 1
        found.append(Call(caller, hit[0], hit[1], match.group().decode("ascii", "replace"), path,
                          data.count(b"\n", 0, start) + 1, start - line_start + 1))
    return found


def scan(root: Path, files: Mapping[str, list[str]], names: Mapping[bytes, tuple[str, str]]) -> list[Call]:
    """Every object name of another service that each service's files use (first use each), by caller.
    ``files``: service id -> its repo-relative files."""
    calls: list[Call] = []
    top = str(root)
    for caller in sorted(files):
        seen: set[bytes] = set()
        for path in sorted(files[caller]):
            data = read_source(os.path.join(top, path))
            if data is not None:
                calls.extend(scan_file(data, names, caller, path, seen))
    return calls


def first_calls(calls: Iterable[Call]) -> dict[tuple[str, str], Call]:
    """(caller, callee) -> the first call found (calls come by caller, path, place)."""
    out: dict[tuple[str, str], Call] = {}
    for call in calls:
        out.setdefault((call.caller, call.callee), call)
    return out


def undeclared_call_problem(call: Call, caller: Service) -> Problem:
    """A call to a service missing from the caller's dependsOn: a warning at the calling line."""
    return Problem(call.file, call.line, call.col, "",
                   f"{call.caller} calls {call.written} but {call.callee} is not in its dependsOn "
                   f"({caller.display}): the deploy order cannot be trusted; add it (see `invoke graph --suggest`)",
                   warning=True)
