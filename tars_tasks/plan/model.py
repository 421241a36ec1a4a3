"""The plan as data: options in, one ServicePlan per service out, saved and loaded as JSON.

How a plan is made is `plan/make.py`; what "changed" means is explained there.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tars_tasks.core.errors import UsageError
from tars_tasks.core.fsio import write_text_atomic
from tars_tasks.core.settings import check_setting
from tars_tasks.core.textenum import TextEnum
from tars_tasks.state.verdict import Verdict

PLAN_FORMAT = "tars-tasks/plan@1"


class Step(TextEnum):
    """The work a changed service needs, in order."""

    BUILD = "build"
    PUSH = "push"
    CHART = "chart"
    DEPLOY = "deploy"



@dataclass(frozen=True)
class Options:
    """What to plan. Frozen: the library never changes a caller's options."""

    ids: Sequence[str] = ()
    since: str | None = None
    force_all: bool = False  # --all: every selected service counts as changed
    force_ids: Sequence[str] = ()  # named for `deploy --service`: their dependencies must be deployed
    redeploy: bool = True  # force_ids are deployed even when the cluster runs them already (`deploy --force`)
    repair: bool = False  # --repair: undo a person's edits in the cluster (else reported and kept; tars.drift)
    with_dependents: bool = False
    with_deps: bool = False
    tag: str | None = None
    dry_run: bool = False
    push: bool = True
    namespace: str | None = None  # None: tars.namespace
    allow_breaking: bool = False  # release a breaking interface change without its clients (interfaces/impact.py)
    replace: bool = False  # delete and create a deployed TServer whose immutable fields change (plan/cluster_rules.py)

    def __post_init__(self) -> None:  # lists from callers become tuples: hashable, not shared
        object.__setattr__(self, "ids", tuple(self.ids))
        object.__setattr__(self, "force_ids", tuple(self.force_ids))

    @property
    def selects(self) -> list[str]:
        """The flags that choose what to release (refused next to a saved plan, which already chose)."""
        named = {"--service": bool(self.ids), "--since": self.since is not None, "--all": self.force_all,
                 "--with-dependents": self.with_dependents, "--with-deps": self.with_deps,
                 "--tag": self.tag is not None, "--repair": self.repair}  # --namespace: it must be the plan's
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
    replace: bool = False  # uninstalled first: its app/server/subtype changed (--replace, plan/cluster_rules.py)
    verdict: str = ""  # what the cluster runs against git (state/verdict.py); "": the cluster was not asked

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
    env: str = ""  # the environment it was made for ("" = the base settings)
    kube_context: str = ""  # the kube context it was made for ("" = none configured, no kubeconfig)
    # breaking interface changes it would deploy without rebuilding their clients (not saved: re-derived)
    breaking: list[str] = field(default_factory=list, compare=False)

    def by_id(self) -> dict[str, ServicePlan]:
        return {s.id: s for s in self.services}

    def to_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "env": self.env, "namespace": self.namespace,
                "kubeContext": self.kube_context, "dryRun": self.dry_run,
                "tag": self.tag, "notes": self.notes, "services": [asdict(s) for s in self.services],
                "waves": self.waves}

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """A plan from its JSON, every field checked: a plan file is input anyone may have edited, so a wrong
        type, an unknown field or a repeated id is a usage error naming ``services[i].field``, never a
        traceback. Whether it still matches the repo is `plan/saved.py`'s job."""
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise UsageError(f"not a tars-tasks plan (expected format {PLAN_FORMAT})")
        _fields(data, "", _PLAN_FIELDS, required={"format", "namespace", "services", "waves"})
        services = [_service(s, f"services[{i}]") for i, s in enumerate(data["services"])]
        seen: set[str] = set()
        for i, s in enumerate(services):
            if s.id in seen:
                raise UsageError(f"services[{i}].id: {s.id} is planned twice")
            seen.add(s.id)
        try:
            check_setting("namespace", data["namespace"])
        except UsageError as exc:
            raise UsageError(str(exc).replace("tars.namespace", "namespace", 1)) from None
        return cls(services, [list(w) for w in data["waves"]], data["namespace"], bool(data.get("dryRun", False)),
                   list(data.get("notes") or []), data.get("tag"), data.get("env") or "",
                   data.get("kubeContext") or "")

    def save(self, path: Path) -> None:
        """Written whole or not at all, never through a symlink planted at ``path`` (core/fsio.py)."""
        write_text_atomic(path, json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Plan:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read plan {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not a tars-tasks plan (not UTF-8 text)") from None
        try:
            return cls.from_json(data)
        except UsageError as exc:
            raise UsageError(f"{path}: {exc}") from None


Check = tuple[str, Callable[[Any], bool]]  # (what the value must be, the test)
_STRINGS = "a list of strings"
_PLAN_FIELDS: dict[str, Check] = {
    "format": ("a string", lambda v: isinstance(v, str)),
    "namespace": ("a string", lambda v: isinstance(v, str)),
    "env": ("a string", lambda v: isinstance(v, str)),
    "kubeContext": ("a string", lambda v: isinstance(v, str)),
    "dryRun": ("true or false", lambda v: isinstance(v, bool)),
    "tag": ("a string or null", lambda v: v is None or isinstance(v, str)),
    "notes": (_STRINGS, lambda v: _strings(v)),
    "services": ("a list", lambda v: isinstance(v, list)),
    "waves": ("a list of lists of strings", lambda v: isinstance(v, list) and all(_strings(w) for w in v)),
}
_SERVICE_FIELDS: dict[str, Check] = {
    "id": ("a service id", lambda v: isinstance(v, str) and bool(v)),
    "changed": ("true or false", lambda v: isinstance(v, bool)),
    "reasons": (_STRINGS, lambda v: _strings(v)),
    "steps": (_STRINGS, lambda v: _strings(v)),
    "image": ("a string", lambda v: isinstance(v, str)),
    "wave": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "dependsOn": (_STRINGS, lambda v: _strings(v)),
    "fingerprint": ("a string", lambda v: isinstance(v, str)),
    "chart": ("a string", lambda v: isinstance(v, str)),
    "replace": ("true or false", lambda v: isinstance(v, bool)),
    "verdict": ("a verdict (in sync, out of date, ...) or empty", lambda v: v == "" or v in set(Verdict)),
}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def _fields(data: dict, where: str, known: dict[str, Check], required: set[str]) -> None:
    """Every key known, every required one present, every value of its type; else a UsageError naming it."""
    prefix = f"{where}." if where else ""
    for key in data:
        if key not in known:
            raise UsageError(f"{prefix}{key}: unknown field (known: {', '.join(known)})")
    for key, (what, ok) in known.items():
        if key not in data:
            if key in required:
                raise UsageError(f"{prefix}{key}: missing")
            continue
        if not ok(data[key]):
            raise UsageError(f"{prefix}{key}: must be {what}, not {_kind(data[key])}")


def _service(data: Any, where: str) -> ServicePlan:
    if not isinstance(data, dict):
        raise UsageError(f"{where}: must be an object, not {_kind(data)}")
    _fields(data, where, _SERVICE_FIELDS, required=set(_SERVICE_FIELDS) - {"replace", "verdict"})  # older plans
    return ServicePlan(**data)
