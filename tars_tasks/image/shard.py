"""`--shard K/N`: which services one of N parallel build jobs builds.

A service belongs to shard `sha256(id) mod N + 1`: a partition of the service ids that depends on nothing
else, so every job computes the same one whatever it sees. Splitting only what needs building (say, a
round robin over the missing images) would not be safe: the jobs start at different times, and a job that
sees an image another job has just pushed would count differently and could leave a service to no one.
"""
from __future__ import annotations

import hashlib
import re

from tars_tasks.core.errors import UsageError

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(text: str) -> tuple[int, int]:
    """(K, N) from `K/N`, 1 <= K <= N; anything else is a usage error."""
    match = _SHARD.match(text or "")
    if not match:
        raise UsageError(f"--shard: {text!r} is not K/N (e.g. 2/3: the second of three build jobs)")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"--shard: {text!r}: K must be between 1 and N, and N at least 1")
    return k, n


def shard_of(service_id: str, n: int) -> int:
    """The shard (1..n) of a service id."""
    digest = hashlib.sha256(service_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n + 1
