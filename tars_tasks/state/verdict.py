"""The verdicts of "does the cluster run what git would deploy, and does it work?", one vocabulary for plan,
status, diff and their JSON. Their text is what users read and scripts match (documented in docs/operating.md)."""
from __future__ import annotations

from tars_tasks.core.textenum import TextEnum


class Verdict(TextEnum):
    IN_SYNC = "in sync"  # runs what git would deploy, verified Ready, nothing changed by hand, pods Ready
    OUT_OF_DATE = "out of date"  # runs another chart version than git would deploy
    FAILED = "failed"  # helm failed, or tracking proved the current revision failed
    UNVERIFIED = "unverified"  # the current revision was never tracked to a verdict (interrupted, API lost)
    CANARY = "canary"  # a canary paused at a step (pause: manual, or a signal): invoke promote / invoke abort
    PENDING = "pending"  # helm left it pending (a run in progress, or one that was killed)
    DRIFTED = "drifted"  # an object the chart owns was changed or deleted in the cluster
    UNHEALTHY = "unhealthy"  # nothing changed, yet its pods are not Ready (crash-looping, not active)
    MISSING = "missing"  # no helm release of the service in the namespace
    ORPHAN = "orphan"  # a release of this tool whose service is gone from the monorepo
    UNKNOWN = "unknown"  # the cluster's objects could not be read (after retries): nothing can be said of them


NOT_IN_SYNC = tuple(v for v in Verdict if v is not Verdict.IN_SYNC)
