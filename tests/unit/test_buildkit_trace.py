"""BuildKit progress (`moby.buildkit.trace`, protobuf StatusResponse) read into build log lines: recorded from a
real engine (Docker 20.10.24, `/build?version=2`), plus hand-made messages for the edge cases."""
from __future__ import annotations

import base64
import json

from support import REPO_ROOT
from tars_tasks.image.buildkit import TraceLog, decode_status

DATA = REPO_ROOT / "tests" / "data" / "buildkit"


def replay(name: str) -> tuple[list[str], list[str], list[dict]]:
    trace, lines, steps, other = TraceLog(), [], [], []
    for chunk in json.loads((DATA / f"trace_{name}.json").read_text()):
        if chunk.get("id") == "moby.buildkit.trace":
            got, started = trace.feed(chunk["aux"])
            lines += got
            steps += started
        else:
            other.append(chunk)
    return lines, steps, other


def test_a_recorded_build_reads_like_plain_progress_with_the_steps_output_and_error():
    lines, steps, other = replay("first")
    assert lines == [
        "#1 [internal] load remote build context", "#1 DONE 0.0s",
        "#2 copy /context /", "#2 DONE 0.0s",
        "#3 [internal] load metadata for docker.io/tarscloud/tars.cppbase:v1beta3", "#3 DONE 0.0s",
        "#4 [1/4] FROM docker.io/tarscloud/tars.cppbase:v1beta3",
        "#5 [2/4] RUN echo first-line && echo second-line",
        "#6 [3/4] COPY x /x",
        "#7 [4/4] RUN echo failing-step && exit 7",
        "#4 DONE 0.0s",
        "#5 first-line", "#5 second-line", "#5 DONE 0.3s",
        "#6 DONE 0.0s",
        "#7 failing-step",
        "#7 ERROR: executor failed running [/bin/sh -c echo failing-step && exit 7]: exit code: 7",
    ]
    assert steps == ["copy /context /", "[1/4] FROM docker.io/tarscloud/tars.cppbase:v1beta3",
                     "[2/4] RUN echo first-line && echo second-line", "[3/4] COPY x /x",
                     "[4/4] RUN echo failing-step && exit 7"]
    assert other[-1]["errorDetail"]["message"] == "executor failed running [/bin/sh -c echo failing-step && exit 7]: exit code: 7"


def test_a_recorded_rebuild_says_which_steps_were_cached():
    lines, _, _ = replay("again")
    assert [line for line in lines if line.endswith("CACHED")] == ["#2 CACHED", "#4 CACHED", "#6 CACHED"]
    assert lines[lines.index("#4 CACHED") - 3] == "#4 [2/4] RUN echo first-line && echo second-line"


# --- a tiny encoder for hand-made messages (field numbers of moby's control.proto) ---
def varint(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def length(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def timestamp(seconds: int, nanos: int = 0) -> bytes:
    return varint(1 << 3) + varint(seconds) + varint(2 << 3) + varint(nanos)


def vertex(digest: str, name: str = "", *, started=None, completed=None, cached=False, error="") -> bytes:
    body = length(1, digest.encode()) + length(3, name.encode())
    if cached:
        body += varint(4 << 3) + varint(1)
    if started is not None:
        body += length(5, timestamp(*started))
    if completed is not None:
        body += length(6, timestamp(*completed))
    if error:
        body += length(7, error.encode())
    return length(1, body)


def log(digest: str, msg: bytes) -> bytes:
    return length(3, length(1, digest.encode()) + length(2, timestamp(1)) + varint(3 << 3) + varint(1) +
                  length(4, msg))


def b64(*parts: bytes) -> str:
    return base64.b64encode(b"".join(parts)).decode()


def test_output_split_across_messages_is_joined_into_whole_lines_and_flushed_at_the_end():
    trace = TraceLog()
    assert trace.feed(b64(vertex("sha256:a", "[1/1] RUN make", started=(10, 0)))) == (
        ["#1 [1/1] RUN make"], ["[1/1] RUN make"])
    assert trace.feed(b64(log("sha256:a", b"compil"))) == ([], [])
    assert trace.feed(b64(log("sha256:a", b"ing\r\nlinking\nno newline"))) == (["#1 compiling", "#1 linking"], [])
    done = trace.feed(b64(vertex("sha256:a", "[1/1] RUN make", started=(10, 0), completed=(12, 500_000_000))))
    assert done == (["#1 no newline", "#1 DONE 2.5s"], [])
    # a step that is done is not announced again when the engine repeats it
    assert trace.feed(b64(vertex("sha256:a", "[1/1] RUN make", completed=(12, 0)))) == ([], [])


def test_unknown_fields_are_skipped_and_a_broken_message_is_one_line_not_a_failure():
    fixed64 = varint(9 << 3 | 1) + b"\0" * 8  # a field a newer engine might send
    fixed32 = varint(10 << 3 | 5) + b"\0" * 4
    status = decode_status(fixed64 + vertex("sha256:b", "step", cached=True) + fixed32 + length(2, b"\x0a\x01x"))
    assert [(v.digest, v.name, v.cached) for v in status.vertexes] == [("sha256:b", "step", True)]
    trace = TraceLog()
    lines, _ = trace.feed(b64(length(1, b"\x0a\x50short")))  # a length past the end
    assert lines == ["(unreadable BuildKit progress message: truncated field)"]
    lines, _ = trace.feed("not base64!")
    assert len(lines) == 1 and lines[0].startswith("(unreadable BuildKit progress message")
