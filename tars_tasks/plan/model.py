"""The plan as data: options in, one ServicePlan per service out, saved and loaded as JSON.

How a plan is made is `plan/make.py`; what "changed" means is explained there.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from tars_tasks.core.errors import TarsError, UsageError

PLAN_FORMAT = "tars-tasks/plan@1"


class Step(str, Enum):
    """The work a changed service needs, in order."""

    BUILD = "build"
    PUSH = "push"
    CHART = "chart"
    DEPLOY = "deploy"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Options:
    """What to plan. Frozen: the library never changes a caller's options."""

    ids: Sequence[str] = ()
    since: str | None = None
    force_all: bool = False  # --all: every selected service counts as changed
    force_ids: Sequence[str] = ()  # deployed even when the cluster runs them already (`deploy --service`)
    with_dependents: bool = False
    with_deps: bool = False
    tag: str | None = None
    dry_run: bool = False
    push: bool = True
    namespace: str | None = None  # None: tars.namespace

    def __post_init__(self) -> None:  # lists from callers become tuples: hashable, not shared
        object.__setattr__(self, "ids", tuple(self.ids))
        object.__setattr__(self, "force_ids", tuple(self.force_ids))

    @property
    def selects(self) -> list[str]:
        """The flags that choose what to release (refused next to a saved plan, which already chose)."""
        named = {"--service": bool(self.ids), "--since": self.since is not None, "--all": self.force_all,
                 "--with-dependents": self.with_dependents, "--with-deps": self.with_deps,
                 "--tag": self.tag is not None, "--namespace": self.namespace is not None}
        return [flag for flag, given in named.items() if given]


@dataclass
class ServicePlan:
    id: str
    changed: bool
    reasons: list[str]
    steps: list[str]
    image: str
    wave: int
    dependsOn: list[str] = field(default_factory=list)  # noqa: N815 - JSON field name
    fingerprint: str = ""
    chart: str = ""  # <name>-<version> that will be deployed

    def needs(self, step: Step) -> bool:
        return step.value in self.steps


@dataclass
class Plan:
    services: list[ServicePlan]
    waves: list[list[str]]
    namespace: str
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    tag: str | None = None

    def by_id(self) -> dict[str, ServicePlan]:
        return {s.id: s for s in self.services}

    def to_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "namespace": self.namespace, "dryRun": self.dry_run, "tag": self.tag,
                "notes": self.notes, "services": [asdict(s) for s in self.services], "waves": self.waves}

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise UsageError(f"not a tars-tasks plan (expected format {PLAN_FORMAT})")
        try:
            services = [ServicePlan(**s) for s in data["services"]]
            return cls(services, [list(w) for w in data["waves"]], data["namespace"], bool(data.get("dryRun")),
                       list(data.get("notes") or []), data.get("tag"))
        except (KeyError, TypeError) as exc:
            raise UsageError(f"plan file is incomplete or malformed: {exc}") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise UsageError(f"cannot read plan {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def check_plan_still_applies(plan: Plan, fingerprints: dict[str, str]) -> None:
    """A saved plan runs exactly as planned only while its inputs are unchanged."""
    missing = sorted(p.id for p in plan.services if p.id not in fingerprints)
    if missing:
        raise TarsError(f"the plan names services that no longer exist: {', '.join(missing)}")
    stale = sorted(p.id for p in plan.services if fingerprints[p.id] != p.fingerprint)
    if stale:
        raise TarsError(f"files changed since the plan was made ({', '.join(stale)}); make a new plan")
