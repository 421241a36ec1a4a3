"""What tracking proved of each helm revision, kept where it survives: a label on helm's own release record
(its Secret) named for the revision, `tars-tasks.io/rollout-<N>: verified|failed`.

- A revision is *verified* only when tracking saw it Ready; *failed* when tracking saw it fail; without a mark
  it is *unverified* (a run that was interrupted, that lost the API, `--no-wait`, or a tool before this one),
  and the next plan tracks it again before anything depends on it.
- Why a label named for the revision: helm copies the labels of the last revision to the next one (upgrade)
  and keeps them when it rewrites a superseded record, but rewrites a record's annotations away. A plain
  `tars-tasks.io/rollout=failed` label (what earlier versions wrote, still ignored here) was therefore inherited
  by every later revision; a copied `rollout-4: failed` says only that revision 4 failed, which stays true.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from tars_tasks.core.textenum import TextEnum

MARK_PREFIX = "tars-tasks.io/rollout-"
LEGACY_LABEL = "tars-tasks.io/rollout"  # inherited by every later revision: never read, removed when marking


class Verification(TextEnum):
    VERIFIED = "verified"
    FAILED = "failed"
    UNVERIFIED = "unverified"


def label(revision: int) -> str:
    return f"{MARK_PREFIX}{revision}"


def marks(labels_of: Iterable[Mapping[str, str]]) -> dict[int, Verification]:
    """revision -> what tracking proved, from the labels of any of the release's records (they accumulate)."""
    out: dict[int, Verification] = {}
    for labels in labels_of:
        for key, value in (labels or {}).items():
            number = key[len(MARK_PREFIX):] if key.startswith(MARK_PREFIX) else ""
            if number.isdigit() and value in (Verification.VERIFIED.value, Verification.FAILED.value):
                out[int(number)] = Verification(value)
    return out


def of_revision(labels: Mapping[str, str], revision: int) -> Verification:
    return marks([labels]).get(revision, Verification.UNVERIFIED)


def mark_patch(revision: int, verdict: Verification) -> dict[str, dict[str, dict[str, str | None]]]:
    """The merge patch that marks a record (and drops the inherited legacy label)."""
    return {"metadata": {"labels": {label(revision): verdict.value, LEGACY_LABEL: None}}}
