"""Read BuildKit's progress (`moby.buildkit.trace` messages of the Engine API's `/build?version=2`) into log lines.

Each trace message is a base64 protobuf `moby.buildkit.v1.StatusResponse` (moby's control.proto):
`vertexes` (1: digest 1, name 3, cached 4, started 5, completed 6, error 7), `statuses` (2: vertex 2, name 3,
current 4, total 5) and `logs` (3: vertex 1, msg 4). A vertex is one step (`[2/3] COPY files/ ...`). The few
fields a build log needs are read by the small decoder below, so no protobuf package is needed; unknown fields
are skipped, so a newer engine's messages still read.

The lines look like `docker build --progress=plain`: `#3 [2/3] COPY files/ /usr/local/server/bin/`, then the
step's output as `#3 <line>`, then `#3 CACHED`, `#3 DONE 0.1s` or `#3 ERROR: ...`.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class TraceDecodeError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise TraceDecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise TraceDecodeError("varint too long")


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of one protobuf message: an int for varints, bytes for length-delimited
    fields; fixed-width fields are skipped."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise TraceDecodeError("truncated field")
            yield number, data[pos:pos + size]
            pos += size
        elif wire == _I64:
            pos += 8
        elif wire == _I32:
            pos += 4
        else:
            raise TraceDecodeError(f"wire type {wire} not supported")


def _seconds(timestamp: bytes) -> float:
    """A google.protobuf.Timestamp (seconds 1, nanos 2) as float seconds."""
    secs = nanos = 0
    for number, value in fields(timestamp):
        if number == 1 and isinstance(value, int):
            secs = value
        elif number == 2 and isinstance(value, int):
            nanos = value
    return secs + nanos / 1e9


@dataclass
class Vertex:
    digest: str
    name: str = ""
    cached: bool = False
    started: float | None = None
    completed: float | None = None
    error: str = ""


@dataclass
class Status:
    vertexes: list[Vertex] = field(default_factory=list)
    logs: list[tuple[str, bytes]] = field(default_factory=list)  # (vertex digest, output)


def _text(value: int | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else ""


def _vertex(data: bytes) -> Vertex:
    vertex = Vertex("")
    for n, v in fields(data):
        if n == 1:
            vertex.digest = _text(v)
        elif n == 3:
            vertex.name = _text(v)
        elif n == 4:
            vertex.cached = bool(v)
        elif n in (5, 6) and isinstance(v, bytes):
            setattr(vertex, "started" if n == 5 else "completed", _seconds(v))
        elif n == 7:
            vertex.error = _text(v)
    return vertex


def _log(data: bytes) -> tuple[str, bytes]:
    digest, msg = "", b""
    for n, v in fields(data):
        if n == 1:
            digest = _text(v)
        elif n == 4 and isinstance(v, bytes):
            msg = v
    return digest, msg


def decode_status(data: bytes) -> Status:
    """The vertexes and logs of one StatusResponse (statuses, i.e. transfer counters, are not needed)."""
    status = Status()
    for number, value in fields(data):
        if number == 1 and isinstance(value, bytes):
            status.vertexes.append(_vertex(value))
        elif number == 3 and isinstance(value, bytes):
            status.logs.append(_log(value))
    return status


class TraceLog:
    """Turns the trace messages of one build into plain log lines, each step announced once and finished
    once. ``started`` lists the step names in the order they started (for progress)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._done: set[str] = set()
        self._partial: dict[str, bytes] = {}

    def _number(self, digest: str) -> int:
        return self._numbers.setdefault(digest, len(self._numbers) + 1)

    def feed(self, aux: str) -> tuple[list[str], list[str]]:
        """(log lines, names of steps that started) for one base64 trace message; an unreadable message
        gives a line saying so instead of failing the build."""
        try:
            status = decode_status(base64.b64decode(aux))
        except (TraceDecodeError, binascii.Error, ValueError) as exc:
            return [f"(unreadable BuildKit progress message: {exc})"], []
        lines: list[str] = []
        started: list[str] = []
        for v in status.vertexes:
            if not v.digest or v.digest in self._done:
                continue
            new = v.digest not in self._numbers
            n = self._number(v.digest)
            if new:
                lines.append(f"#{n} {v.name}")
                if not v.name.startswith("[internal]"):
                    started.append(v.name)
            if v.error:
                lines += self._flush(v.digest)
                lines.append(f"#{n} ERROR: {v.error}")
                self._done.add(v.digest)
            elif v.cached:
                lines.append(f"#{n} CACHED")
                self._done.add(v.digest)
            elif v.completed is not None:
                lines += self._flush(v.digest)
                took = v.completed - v.started if v.started is not None else 0.0
                lines.append(f"#{n} DONE {max(took, 0.0):.1f}s")
                self._done.add(v.digest)
        for digest, msg in status.logs:
            n = self._number(digest)
            *whole, rest = (self._partial.pop(digest, b"") + msg).split(b"\n")
            lines += [f"#{n} {raw.decode('utf-8', 'replace').rstrip(chr(13))}" for raw in whole]
            if rest:
                self._partial[digest] = rest
        return lines, started

    def _flush(self, digest: str) -> list[str]:
        rest = self._partial.pop(digest, b"")
        return [f"#{self._number(digest)} {rest.decode('utf-8', 'replace')}"] if rest else []
