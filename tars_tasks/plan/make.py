"""Make a plan, as a sequence of named steps:

    select → artifacts → changed (git or cluster) → add dependents → registry → waves → plan

Content mode (default) compares what would be deployed now with what the cluster runs, learned from one
`helm list -o json` per namespace: the packaged chart's version is a digest of the chart template, the
values and the image tag, so equal chart versions mean nothing changed. `--since REF` asks git instead.
`--all` and services named for `deploy` count as changed in either mode. Only changed services are looked
up in the registry. The tool keeps no state of its own.

`--since` also asks the cluster when it is reachable (not in a dry run): a service whose live release failed,
is pending, is missing from the namespace or is another chart version than git would deploy is included
too, so a change elsewhere never papers over it. A base that names no commit (empty, all zeros, gone) falls
back to content mode with a note. Without a reachable cluster `plan --since` plans from git alone (it says
so); `release` refuses, as in content mode.

`deploy --service X` (services named in ``force_ids``) refuses when a dependency of X is not deployed in the
namespace, unless --with-deps brings it or the caller passes ``check_deps=False`` (`--force`).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tars_tasks.chart.package import Chart, assemble, template_for
from tars_tasks.core.errors import InputError, TarsError, UsageError
from tars_tasks.core.files import FileLister
from tars_tasks.core.graph import closure, edges_of, reverse, waves
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.core.secrets import SecretSource
from tars_tasks.core.secrets import resolve as resolve_secrets
from tars_tasks.core.services import Service
from tars_tasks.deploy.kube import Kube, KubeError, current_context
from tars_tasks.image.artifacts import Artifact, resolve
from tars_tasks.image.registry import Registries, RegistryError
from tars_tasks.interfaces.impact import PlanImpact, plan_impact
from tars_tasks.plan import cluster_rules
from tars_tasks.plan.changes import changed_files, no_base, services_touched
from tars_tasks.plan.model import Options, Plan, ServicePlan, Step
from tars_tasks.project import Project
from tars_tasks.state.compare import config_objects, missing_objects, person_edits
from tars_tasks.state.live import Cluster, read_objects
from tars_tasks.state.verdict import Verdict
from tars_tasks.state.verification import Verification, of_revision

Reasons = dict[str, list[str]]  # service id -> why it changed
REPAIR_REASON = "changed in the cluster by hand"  # a plan reason that makes the deploy undo a person's edits


@dataclass
class Draft:
    """What the steps below fill in, one after another."""

    project: Project
    opts: Options
    namespace: str
    lister: FileLister
    selected: list[Service] = field(default_factory=list)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    charts: dict[str, Chart] = field(default_factory=dict)
    changed: Reasons = field(default_factory=dict)
    in_registry: dict[str, tuple[bool | None, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    changed_paths: list[str] | None = None  # --since: the files git says changed (asked once per plan)
    kube: Kube | None = None  # reads helm's records for what tracking proved (None: not asked)
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # what the cluster runs, when it was asked
    replace: dict[str, str] = field(default_factory=dict)  # --replace: id -> the immutable fields it changes

    def add_artifacts(self, services: list[Service]) -> None:
        settings = self.project.settings
        # secrets first: a missing one is a located error before any work, and each chart version needs them
        self.notes.extend(resolve_secrets(services, SecretSource(settings.root, settings.env), self.opts.dry_run))
        new = resolve(settings, services, self.opts.tag, self.lister)
        self.artifacts.update(new)
        template = template_for(settings)
        for s in services:
            self.charts[s.id] = assemble(s, settings, new[s.id].tag, template)

    def chart_ref(self, service: Service) -> str:
        return f"{service.name}-{self.charts[service.id].version}"


def make_plan(project: Project, opts: Options, helm: Helm | None = None, registries: Registries | None = None,
              lister: FileLister | None = None, check_deps: bool = True, require_cluster: bool = False,
              kube: Kube | None = None) -> tuple[Plan, dict[str, Artifact]]:
    """The plan for ``opts``, and the artifacts (spec, fingerprint, tag) of every planned service.
    ``require_cluster``: --since refuses an unreachable cluster (a release), instead of planning from git alone.
    ``kube``: the namespace's TTemplates and TServers are checked against the framework's rules."""
    draft = Draft(project, opts, opts.namespace or project.settings.namespace,
                  lister or FileLister(project.settings.root))
    if helm is not None:
        draft.kube = kube or Kube.from_settings(project.settings)
    select(draft)
    draft.add_artifacts(draft.selected)
    since = usable_since(draft)
    deployed: dict[str, dict] | None
    if since:
        changed_in_git(draft)
        deployed = releases_for_since(helm, draft, require_cluster)
        if deployed is not None:
            changed_in_cluster(draft, deployed, since=True)
    else:
        deployed = deployed_releases_or_none(helm, draft)
        changed_in_cluster(draft, deployed)
    if check_deps and deployed is not None and helm is not None:
        require_deployed_dependencies(draft, deployed)
    if kube is not None and not opts.dry_run and deployed is not None:  # the cluster answered helm
        framework_rules(draft, kube, require_cluster)
    forced(draft)
    impact = through_interfaces(draft, since)
    if opts.with_dependents:
        add_dependents(draft)
    if registries is None:  # our own: keep the tags it confirmed (the caller's keeps its own)
        registries = Registries.of(project.settings)
        look_up_registry(draft, registries)
        registries.memory.save()
    else:
        look_up_registry(draft, registries)
    plan = to_plan(draft)
    plan.breaking = impact.unreleased({s.id for s in plan.services if s.changed})
    plan.notes.extend(f"breaking interface change: {why}" for why in plan.breaking)
    return plan, draft.artifacts


def select(draft: Draft) -> None:
    """The named services (all when none), their dependencies with --with-deps; every one must be valid."""
    project = draft.project
    selected = project.select(list(draft.opts.ids))
    if draft.opts.with_deps:
        selected = project.select(sorted(closure([s.id for s in selected], project.edges())))
    try:
        project.require_valid(selected)
    except InputError as exc:  # their .tars files that do not parse too: every bad input in one run
        impact = plan_impact(project.settings, project.services, None)
        unparsed = impact.catalog.parse_errors({s.id for s in selected}) if impact.catalog is not None else []
        raise InputError(exc.problems + unparsed) from None
    draft.selected = selected


def framework_rules(draft: Draft, kube: Kube, require_cluster: bool) -> None:
    """The admission rules that depend on the namespace (plan/cluster_rules.py), once per namespace: problems are
    located errors before any work; with --replace, a changed immutable field makes the service a replacement."""
    try:
        found = cluster_rules.check(draft.selected, draft.namespace, kube, draft.opts.replace)
    except KubeError as exc:
        if require_cluster:
            raise UsageError(f"cluster not reachable: {exc}") from None
        draft.notes.append(f"the namespace's TTemplates and TServers could not be read ({exc}): not checked")
        return
    if found.problems:
        raise InputError(found.problems)
    draft.replace = found.replace
    for sid, what in sorted(found.replace.items()):
        draft.changed.setdefault(sid, []).insert(0, f"--replace: uninstalled and installed again ({what})")


def usable_since(draft: Draft) -> str | None:
    """The --since base, or None (content mode): none given, or one that names no commit (with a note)."""
    ref = draft.opts.since
    if ref is None:
        return None
    why = no_base(draft.project.settings.root, ref)
    if why is None:
        return ref
    draft.notes.append(f"--since: {why}; compared with the cluster instead (content mode)")
    return None


def releases_for_since(helm: Helm | None, draft: Draft, require_cluster: bool) -> dict[str, dict] | None:
    """`helm list` for --since, or None when the cluster is not asked (a dry run, no helm) or not reachable
    (a plan; a release refuses)."""
    if helm is None:
        return None
    if draft.opts.dry_run:
        draft.notes.append("--since with --dry-run: git alone decides (failed or missing releases are not looked up)")
        return None
    try:
        return cluster_releases(helm, draft.namespace, False, draft.notes, draft.kube)
    except UsageError:
        if require_cluster:
            raise
        draft.notes.append("cluster not reachable: planned from git alone (failed or missing releases are not seen)")
        return None


def require_deployed_dependencies(draft: Draft, deployed: dict[str, dict]) -> None:
    """`deploy --service X` without --with-deps: every dependency of X must be deployed in the namespace."""
    named = set(draft.opts.force_ids)
    if not named or draft.opts.with_deps or draft.opts.dry_run:
        return
    by_id = draft.project.by_id()
    needed = closure(named, draft.project.edges()) - named
    missing = sorted(d for d in needed if d in by_id and by_id[d].name not in deployed)
    if missing:
        raise UsageError(f"{', '.join(sorted(named))}: dependencies not deployed in namespace {draft.namespace}: "
                         f"{', '.join(missing)}; deploy them first with --with-deps (or --force to deploy anyway)")


def changed_in_git(draft: Draft) -> None:
    """--since REF: a service changed when a file in its folder, one of its build.inputs, or the chart or
    Dockerfile templates changed since REF."""
    settings, ref = draft.project.settings, draft.opts.since or ""
    draft.changed_paths = changed_files(settings.root, ref)
    touched = services_touched(settings.root, draft.selected, draft.changed_paths,
                               settings.path(settings.chart_dir), env=settings.env)
    for sid, files in touched.items():
        shown = ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
        draft.changed[sid] = [f"changed since {ref}: {shown}"]


def through_interfaces(draft: Draft, since: str | None) -> PlanImpact:
    """--since: a change to an owned interface marks the selected services that keep a copy of it or include
    it as changed, with the reason (interfaces/impact.py); and what the breaking-change gate of `release`
    needs, in either mode. A .tars file of a selected service (or one it includes) that does not parse is
    refused here, like any other bad input of theirs, before any work."""
    settings = draft.project.settings
    impact = plan_impact(settings, draft.project.services, since,
                         lambda: draft.changed_paths if draft.changed_paths is not None
                         else changed_files(settings.root, since or ""))
    chosen = {s.id for s in draft.selected}
    impact.require_parsed(chosen)
    for sid, why in sorted(impact.reasons.items()):
        if sid in chosen:
            draft.changed.setdefault(sid, []).extend(why)
    return impact


def deployed_releases_or_none(helm: Helm | None, draft: Draft) -> dict[str, dict]:
    """release name -> `helm list` entry. Without a reachable cluster that is a usage error, unless this is a
    dry run (then nothing counts as deployed). No helm at all (a library caller planning offline): {}."""
    if helm is None:
        return {}
    return cluster_releases(helm, draft.namespace, draft.opts.dry_run, draft.notes, draft.kube)


def cluster_releases(helm: Helm, namespace: str, dry_run: bool, notes: list[str], kube: Kube | None = None
                     ) -> dict[str, dict]:
    """release name -> `helm list` entry. A deployed release whose current revision tracking did not prove Ready
    has its status replaced: "failed rollout (revision N)" when tracking proved it failed, "unverified (revision
    N)" when it never reached a verdict (state/verification.py; read with ``kube``, one list call)."""
    try:
        releases = {r.get("name", ""): r for r in helm.list_releases(namespace)}
    except HelmError as exc:
        if not dry_run:
            raise UsageError(f"cluster not reachable (use --dry-run to work without one): {exc}") from None
        notes.append("cluster not reachable: dry run treats every service as not deployed")
        return {}
    if releases and kube is not None:
        live = read_objects(kube, namespace, releases, pods=False)
        if live.cluster is not Cluster.REACHABLE:
            notes.append(f"helm's release records could not be read ({'; '.join(live.notes)}): rollouts taken as "
                         "verified, objects as present")
            return releases
        for name, entry in releases.items():
            revision, record = int(entry.get("revision") or 0), live.records.get(name)
            if entry.get("status") != "deployed" or record is None or record.revision != revision:
                continue
            verification = of_revision(record.labels, revision)
            if verification is Verification.FAILED:
                releases[name] = {**entry, "status": f"failed rollout (revision {revision})"}
            elif verification is Verification.UNVERIFIED:
                releases[name] = {**entry, "status": f"unverified (revision {revision})"}
            else:
                configs = config_objects(record, live)
                releases[name] = {**entry,
                                  "missing": missing_objects(record, live) + [c.object for c in configs
                                                                              if c.verdict is Verdict.MISSING],
                                  "edits": person_edits(record, live.tservers.get(name)) + [
                                      c.detail for c in configs if c.verdict is Verdict.DRIFTED]}
    return releases


def changed_in_cluster(draft: Draft, deployed: dict[str, dict], since: bool = False) -> None:
    """A service changed when the cluster runs another chart version of it, or none, or a failed one.
    ``since``: the services git did not find (their reason is git's)."""
    for s in draft.selected:
        entry = deployed.get(s.name)
        wanted = draft.chart_ref(s)
        draft.verdicts[s.id] = cluster_verdict(entry, wanted)
        if since and s.id in draft.changed:
            continue
        status = str((entry or {}).get("status"))
        if entry is None:
            why = "not deployed here" if since else f"not deployed in namespace {draft.namespace}"
        elif status.startswith("unverified"):
            why = f"last release is {status}: never proved Ready (interrupted, or the cluster was lost): track it"
        elif status != "deployed" and not since:
            why = f"last release is {status}: redo it"
        elif status != "deployed":
            why = "last release failed" if status.startswith("failed") else f"last release is {status}"
        elif entry.get("chart") != wanted:
            why = f"cluster runs an older release ({entry.get('chart')}, now {wanted})"
        elif entry.get("missing"):
            why = f"{', '.join(entry['missing'])} deleted from the cluster by hand: recreate"
        elif entry.get("edits") and repairs(draft):
            why = f"{REPAIR_REASON} ({'; '.join(entry['edits'])}): repair"
        else:
            if entry.get("edits"):
                draft.notes.append(f"{s.id}: changed in the cluster by hand ({'; '.join(entry['edits'])}): kept "
                                   "(--repair, or tars.drift: repair, restores what git declares)")
            continue
        draft.changed.setdefault(s.id, []).append(why)


def cluster_verdict(entry: dict | None, wanted: str) -> Verdict:
    """The verdict of state/verdict.py from what plan reads (no pods: never "unhealthy")."""
    status = str((entry or {}).get("status"))
    if entry is None:
        return Verdict.MISSING
    if status.startswith("unverified"):
        return Verdict.UNVERIFIED
    if status.startswith("pending"):
        return Verdict.PENDING
    if status != "deployed":
        return Verdict.FAILED
    if entry.get("chart") != wanted:
        return Verdict.OUT_OF_DATE
    return Verdict.DRIFTED if entry.get("missing") or entry.get("edits") else Verdict.IN_SYNC


def repairs(draft: Draft) -> bool:
    """Are a person's edits in the cluster undone by this run? (`--repair`, or `tars.drift: repair`)"""
    return draft.opts.repair or draft.project.settings.drift == "repair"


def forced(draft: Draft) -> None:
    """--all, and the services `deploy --force` names, are deployed whatever changed (`deploy` without --force
    deploys a named service only when it is not in sync: no identical helm revision to roll back to)."""
    for s in draft.selected:
        if draft.opts.force_all:
            draft.changed.setdefault(s.id, []).insert(0, "--all: deploy every selected service")
        elif s.id in draft.opts.force_ids and draft.opts.redeploy:
            draft.changed.setdefault(s.id, []).insert(0, "named with --service")


def add_dependents(draft: Draft) -> None:
    """--with-dependents: every service that depends (transitively) on a changed one is redeployed too."""
    project = draft.project
    origins = set(draft.changed)
    extra = closure(origins, reverse(project.edges())) - origins
    chosen = {s.id for s in draft.selected}
    missing = sorted(extra - chosen)
    if missing:
        by_id = project.by_id()
        newly = [by_id[m] for m in missing]
        project.require_valid(newly)
        draft.selected = project.select(sorted(chosen | set(missing)))
        draft.add_artifacts(newly)
    because = changed_below(extra, project.edges(), origins)
    for sid in sorted(extra):
        draft.changed.setdefault(sid, []).append(f"depends on changed {', '.join(sorted(because[sid]))}")


def changed_below(ids: Iterable[str], edges: Mapping[str, Sequence[str]], origins: set[str]
                  ) -> dict[str, frozenset[str]]:
    """id -> the ``origins`` it depends on, transitively. One depth-first walk whose answers are kept, so
    each service is visited once (not one closure per dependent: quadratic at 10k services in chains)."""
    found: dict[str, frozenset[str]] = {}
    for start in ids:
        if start in found:
            continue
        stack = [(start, iter(edges.get(start, ())))]
        active = {start}  # on the walk's path: a cycle (an invalid graph) is not followed round
        while stack:
            node, deps = stack[-1]
            for d in deps:
                if d not in found and d not in active:
                    active.add(d)
                    stack.append((d, iter(edges.get(d, ()))))
                    break
            else:
                stack.pop()
                active.discard(node)
                below: set[str] = set()
                for d in edges.get(node, ()):
                    below |= found.get(d, frozenset())
                    if d in origins:
                        below.add(d)
                found[node] = frozenset(below)
    return found


def look_up_registry(draft: Draft, registries: Registries) -> None:
    """Is each changed service's image tag in the registry already? (8 checks at a time)"""

    def check(sid: str) -> tuple[str, bool | None, str]:
        art = draft.artifacts[sid]
        try:
            if art.pinned:  # that exact tag or digest; not ours, so no fingerprint to compare
                return sid, registries.has(art.image, art.reference), ""
            return sid, registries.has(art.image, art.tag, art.fingerprint), ""
        except RegistryError as exc:
            return sid, None, str(exc)

    with ThreadPoolExecutor(8) as pool:
        for sid, has, err in pool.map(check, sorted(draft.changed)):
            draft.in_registry[sid] = (has, err)
    missing = [f"{sid} ({draft.artifacts[sid].pinned})" for sid, (has, _) in sorted(draft.in_registry.items())
               if has is False and draft.artifacts[sid].pinned]
    if missing:  # it cannot be built: refuse before anything starts
        raise TarsError(f"pinned image not in its registry: {', '.join(missing)} (an image with a tag or digest "
                        "in repo.image is deployed as given, never built)")


def steps_for(draft: Draft, sid: str) -> tuple[list[str], list[str]]:
    """(steps, extra reasons) of one changed service."""
    has, err = draft.in_registry[sid]
    steps: list[str] = []
    why: list[str] = []
    pinned = draft.artifacts[sid].pinned
    if pinned:
        why.append(f"pinned image {pinned}: not built" + (f" (registry not checked: {err})" if err else ""))
    elif not has:
        why.append(f"image tag not in registry ({err})" if err else "image tag not in registry")
        steps.append(Step.BUILD.value)
        if draft.opts.push and not draft.opts.dry_run:
            steps.append(Step.PUSH.value)
    return steps + [Step.CHART.value, Step.DEPLOY.value], why


def to_plan(draft: Draft) -> Plan:
    """One ServicePlan per selected service, ordered by wave then id."""
    layers = waves([s.id for s in draft.selected], edges_of(draft.selected))
    layer = {sid: i for i, wave in enumerate(layers) for sid in wave}
    unchanged = [f"nothing changed since {draft.opts.since}"] if draft.opts.since else ["cluster runs this release"]
    plans = []
    for s in draft.selected:
        art = draft.artifacts[s.id]
        changed = s.id in draft.changed
        steps, why = steps_for(draft, s.id) if changed else ([], [])
        reasons = draft.changed[s.id] + why if changed else unchanged
        plans.append(ServicePlan(s.id, changed, reasons, steps, art.ref, layer[s.id],
                                 [d for d in s.depends_on if d in layer], art.fingerprint, draft.chart_ref(s),
                                 s.id in draft.replace, str(draft.verdicts.get(s.id, ""))))
    plans.sort(key=lambda p: (p.wave, p.id))
    settings = draft.project.settings
    return Plan(plans, layers, draft.namespace, draft.opts.dry_run, draft.notes, draft.opts.tag, settings.env,
                current_context(settings.kube_context))
