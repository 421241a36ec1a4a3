"""The plan: for each selected service, changed or not and why, the steps it needs, its image and wave.

Content mode (default) compares what would be deployed now with what the cluster runs, learned from one
`helm list -o json` per namespace: the packaged chart's version is a digest of the chart template, the
values and the image tag, so equal chart versions mean nothing changed. Only changed services are looked
up in the registry. `--since REF` uses git instead. The tool keeps no state of its own.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tars_tasks.build.artifacts import Artifact, resolve
from tars_tasks.build.fingerprint import FileLister
from tars_tasks.build.registry import Registries, RegistryError
from tars_tasks.chart.package import assemble, template_for
from tars_tasks.core.errors import TarsError, UsageError
from tars_tasks.core.graph import closure, edges_of, reverse, waves
from tars_tasks.core.project import Project
from tars_tasks.core.services import Service
from tars_tasks.deploy.helm import Helm, HelmError
from tars_tasks.plan.changes import changed_files, services_touched

PLAN_FORMAT = "tars-tasks/plan@1"


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

    def to_json(self) -> dict:
        return {"format": PLAN_FORMAT, "namespace": self.namespace, "dryRun": self.dry_run, "tag": self.tag,
                "notes": self.notes, "services": [asdict(s) for s in self.services], "waves": self.waves}

    @classmethod
    def from_json(cls, data: dict) -> Plan:
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


@dataclass
class Options:
    ids: Sequence[str] = ()
    since: str | None = None
    force_all: bool = False
    force_ids: Sequence[str] = ()  # deployed even when the cluster runs them already (`deploy --service`)
    with_dependents: bool = False
    with_deps: bool = False
    tag: str | None = None
    dry_run: bool = False
    push: bool = True
    namespace: str | None = None


def deployed_releases(helm: Helm, namespace: str) -> dict[str, dict]:
    """release name -> helm list entry (one call for the namespace)."""
    return {r.get("name"): r for r in helm.list_releases(namespace)}


def cluster_releases(helm: Helm, namespace: str, dry_run: bool, notes: list[str]) -> dict[str, dict]:
    """What the cluster runs. Without a reachable cluster that is a usage error, unless this is a dry run."""
    try:
        return deployed_releases(helm, namespace)
    except HelmError as exc:
        if not dry_run:
            raise UsageError(f"cluster not reachable (use --dry-run to work without one): {exc}") from None
        notes.append("cluster not reachable: dry run treats every service as not deployed")
        return {}


def select_services(project: Project, opts: Options) -> list[Service]:
    selected = project.select(list(opts.ids))
    if opts.with_deps:
        ids = closure([s.id for s in selected], project.edges())
        selected = project.select(sorted(ids))
    return selected


def make_plan(project: Project, opts: Options, helm: Helm | None = None, registries: Registries | None = None,
              lister: FileLister | None = None) -> tuple[Plan, dict[str, Artifact]]:
    settings = project.settings
    selected = select_services(project, opts)
    project.require_valid(selected)
    namespace = settings.namespace
    notes: list[str] = []

    reasons: dict[str, list[str]] = {}
    if opts.since:
        touched = services_touched(settings.root, project.services, changed_files(settings.root, opts.since))
        for sid, files in touched.items():
            shown = ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
            reasons[sid] = [f"changed since {opts.since}: {shown}"]

    deployed = cluster_releases(helm, namespace, opts.dry_run, notes) if helm is not None else {}

    artifacts = resolve(settings, selected, opts.tag, lister)
    template = template_for(settings)
    charts = {s.id: assemble(s, settings, artifacts[s.id].tag, template) for s in selected}

    changed: dict[str, list[str]] = {}
    for s in selected:
        wanted = f"{s.name}-{charts[s.id].version}"
        if opts.since:
            if s.id in reasons:
                changed[s.id] = reasons[s.id]
            continue
        entry = deployed.get(s.name)
        if opts.force_all:
            changed[s.id] = ["--all: deploy every selected service"]
        elif s.id in opts.force_ids:
            changed[s.id] = ["named with --service"]
        elif entry is None:
            changed[s.id] = [f"not deployed in namespace {namespace}"]
        elif entry.get("status") != "deployed":
            changed[s.id] = [f"last release is {entry.get('status')}: redo it"]
        elif entry.get("chart") != wanted:
            changed[s.id] = [f"cluster runs an older release ({entry.get('chart')}, now {wanted})"]

    if opts.with_dependents:
        rev = reverse(project.edges())
        origins = set(changed)
        extra = closure(origins, rev) - origins
        missing = sorted(extra - {s.id for s in selected})
        if missing:
            selected = project.select(sorted({s.id for s in selected} | set(missing)))
            artifacts.update(resolve(settings, [project.by_id()[m] for m in missing], opts.tag, lister))
            for m in missing:
                charts[m] = assemble(project.by_id()[m], settings, artifacts[m].tag, template)
        for sid in sorted(extra):
            because = sorted(closure([sid], project.edges()) & origins)
            changed.setdefault(sid, []).append(f"depends on changed {', '.join(because)}")

    registries = registries or Registries()

    def in_registry(sid: str) -> tuple[str, bool | None, str]:
        art = artifacts[sid]
        try:
            return sid, registries.has(art.image, art.tag), ""
        except RegistryError as exc:
            return sid, None, str(exc)

    with ThreadPoolExecutor(8) as pool:
        found = {sid: (has, err) for sid, has, err in pool.map(in_registry, sorted(changed))}

    edges = edges_of(selected)
    ids = [s.id for s in selected]
    layers = waves(ids, edges)
    layer = {sid: i for i, wave in enumerate(layers) for sid in wave}
    plans = []
    for s in selected:
        art = artifacts[s.id]
        why = list(changed.get(s.id, []))
        steps: list[str] = []
        if s.id in changed:
            has, err = found[s.id]
            if not has:
                why.append(f"image tag not in registry ({err})" if err else "image tag not in registry")
                steps.append("build")
                if opts.push and not opts.dry_run:
                    steps.append("push")
            steps += ["chart", "deploy"]
        elif not why:
            why = ["cluster runs this release"] if not opts.since else [f"nothing changed since {opts.since}"]
        plans.append(ServicePlan(s.id, s.id in changed, why, steps, art.ref, layer[s.id],
                                 [d for d in s.depends_on if d in layer], art.fingerprint,
                                 f"{s.name}-{charts[s.id].version}"))
    plans.sort(key=lambda p: (p.wave, p.id))
    return Plan(plans, layers, namespace, opts.dry_run, notes, opts.tag), artifacts


def check_plan_still_applies(plan: Plan, artifacts: dict[str, Artifact]) -> None:
    """A saved plan runs exactly as planned only while its inputs are unchanged."""
    stale = sorted(p.id for p in plan.services if p.id in artifacts and artifacts[p.id].fingerprint != p.fingerprint)
    missing = sorted(p.id for p in plan.services if p.id not in artifacts)
    if missing:
        raise TarsError(f"the plan names services that no longer exist: {', '.join(missing)}")
    if stale:
        raise TarsError(f"files changed since the plan was made ({', '.join(stale)}); make a new plan")
