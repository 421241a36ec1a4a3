"""A saved plan (`release --plan p.json`), checked against the repo before anything runs.

A plan file records what `plan` decided: which services changed, why, and the steps each needs. Everything
else in it is derived again from the repo at release time, with the machinery `make_plan` uses (plan/make.py
`Draft`, `to_plan`, `steps_for`), so the two cannot drift: each service's image ref, fingerprint and chart
version, its dependencies among the planned services, and the waves. Any difference is refused, naming the
service and the field, so an edited or stale plan can neither reorder deploys, deploy another image nor skip
a values.yaml change (values.yaml is not in the fingerprint, it is in the chart version).

The steps must be ones `make_plan` could have produced. A changed service the plan does not build (or builds
without pushing, outside a dry run) must have its image already: in the registry, or for a dry run in the
local docker engine, with this build's fingerprint. Nothing is built, packaged or deployed before all of this
passed.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tars_tasks.core.errors import TarsError
from tars_tasks.core.files import FileLister
from tars_tasks.core.services import Service
from tars_tasks.image.artifacts import Artifact
from tars_tasks.image.registry import LABEL_FINGERPRINT, Registries, RegistryError
from tars_tasks.plan.make import Draft, steps_for, to_plan
from tars_tasks.plan.model import Options, Plan, ServicePlan, Step
from tars_tasks.project import Project

# ref -> the labels of that image in the local engine, or None when it has no such image
LocalImages = Callable[[str], dict[str, str] | None]
_SHOWN = 3  # differences named in one message


def check(plan: Plan, project: Project, lister: FileLister, registries: Registries, dry_run: bool,
          local_images: LocalImages | None = None) -> dict[str, Artifact]:
    """The artifacts of the plan's services, derived from the repo; raises TarsError (exit 1) when the plan
    differs from what the repo says or skips building an image that does not exist. ``dry_run``: this run's
    (the plan's or the flag's)."""
    draft = rederive(plan, project, lister)
    derived = to_plan(draft)
    same_files(plan, derived)
    same_fields(plan, derived)
    possible_steps(plan, draft)
    images_exist(plan, draft.artifacts, registries, dry_run, local_images or engine_labels)
    return draft.artifacts


def rederive(plan: Plan, project: Project, lister: FileLister) -> Draft:
    """A Draft of the plan's services as make_plan would fill it now, taking only the plan's decisions
    (what changed, its tag) from the file."""
    by_id = project.by_id()
    gone = sorted(p.id for p in plan.services if p.id not in by_id)
    if gone:
        raise TarsError(f"the plan names services that no longer exist: {', '.join(gone)}")
    services: list[Service] = project.select([p.id for p in plan.services])
    project.require_valid(services)
    opts = Options(ids=[s.id for s in services], tag=plan.tag, dry_run=plan.dry_run, namespace=plan.namespace)
    draft = Draft(project, opts, plan.namespace, lister, selected=services)
    draft.add_artifacts(services)
    draft.changed = {p.id: list(p.reasons) for p in plan.services if p.changed}
    draft.in_registry = {sid: (True, "") for sid in draft.changed}  # steps are checked by possible_steps
    return draft


def same_files(plan: Plan, derived: Plan) -> None:
    """Files of a service's image changed since the plan: its fingerprint differs."""
    now = derived.by_id()
    stale = sorted(p.id for p in plan.services if now[p.id].fingerprint != p.fingerprint)
    if stale:
        raise TarsError(f"files changed since the plan was made ({', '.join(stale)}); make a new plan")


def same_fields(plan: Plan, derived: Plan) -> None:
    """Image, chart, dependencies and waves as the repo says. A chart version that differs while image and
    fingerprint are equal means values.yaml (or the chart template) changed since the plan was made."""
    now = derived.by_id()
    differences: list[str] = []
    for p in plan.services:
        differences += field_differences(p, now[p.id])
    if plan.waves != derived.waves:
        differences.append(f"waves in the plan {_show_waves(plan.waves)} but the repo says "
                           f"{_show_waves(derived.waves)}")
    if differences:
        more = f" (+{len(differences) - _SHOWN} more)" if len(differences) > _SHOWN else ""
        raise TarsError(f"the plan does not match the repo: {'; '.join(differences[:_SHOWN])}{more}; "
                        "make a new plan")


def field_differences(p: ServicePlan, now: ServicePlan) -> list[str]:
    out = []
    if p.image != now.image:
        out.append(f"{p.id}: image in the plan {p.image} but the repo says {now.image}")
    elif p.chart != now.chart:
        out.append(f"{p.id}: values.yaml changed since the plan was made (chart {p.chart} in the plan, "
                   f"{now.chart} now)")
    if p.dependsOn != now.dependsOn:
        out.append(f"{p.id}: dependsOn in the plan {_show(p.dependsOn)} but the repo says {_show(now.dependsOn)}")
    if p.wave != now.wave:
        out.append(f"{p.id}: wave in the plan {p.wave} but the repo says {now.wave}")
    return out


def possible_steps(plan: Plan, draft: Draft) -> None:
    """Each service's steps are ones make_plan produces for it: none when unchanged; else as steps_for
    says with the image in the registry or not, pushed or not (the plan's dry run decides about push)."""
    wrong = []
    for p in plan.services:
        allowed = step_lists(draft, p.id) if p.changed else [[]]
        if p.steps not in allowed:
            shown = " or ".join(_show(s) for s in allowed)
            wrong.append(f"{p.id}: steps in the plan {_show(p.steps)} but a plan makes {shown}")
    if wrong:
        more = f" (+{len(wrong) - _SHOWN} more)" if len(wrong) > _SHOWN else ""
        raise TarsError(f"the plan does not match the repo: {'; '.join(wrong[:_SHOWN])}{more}; make a new plan")


def step_lists(draft: Draft, sid: str) -> list[list[str]]:
    out: list[list[str]] = []
    for has in (True, False):
        for push in (True, False):
            variant = dataclasses.replace(draft, opts=dataclasses.replace(draft.opts, push=push),
                                          in_registry={sid: (has, "")})
            steps = steps_for(variant, sid)[0]
            if steps not in out:
                out.append(steps)
    return out


def images_exist(plan: Plan, artifacts: dict[str, Artifact], registries: Registries, dry_run: bool,
                 local_images: LocalImages) -> None:
    """A changed service that this run does not build and push (build alone in a dry run) deploys an image
    that must exist now: in the registry, or for a dry run in the local engine, with this fingerprint."""
    def built(p: ServicePlan) -> bool:
        return p.needs(Step.BUILD) and (dry_run or p.needs(Step.PUSH))

    skipped = [p.id for p in plan.services if p.changed and not built(p)]

    def look(sid: str) -> tuple[str, str | None]:
        art = artifacts[sid]
        wanted = None if art.pinned else art.fingerprint
        try:
            if registries.has(art.image, art.reference, wanted):
                return sid, None
            why = "is not in the registry"
        except RegistryError as exc:  # a tag with other content, or no registry to ask
            why = f"cannot be confirmed in the registry ({exc})"
        if dry_run:
            labels = local_images(art.ref)
            if labels is not None and (wanted is None or labels.get(LABEL_FINGERPRINT) == wanted):
                return sid, None
            why += " nor in the local engine"
        return sid, why

    with ThreadPoolExecutor(8) as pool:
        missing = [(sid, why) for sid, why in pool.map(look, skipped) if why is not None]
    if missing:
        sid, why = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise TarsError(f"the plan skips building {sid} but its image {artifacts[sid].ref} {why}{more}; "
                        "make a new plan")


def engine_labels(ref: str) -> dict[str, str] | None:
    """The labels of ``ref`` in the local docker engine; None when it has no such image or cannot be asked."""
    import docker
    import docker.errors

    try:
        client = docker.from_env(timeout=30)
    except docker.errors.DockerException:
        return None
    try:
        return dict(client.images.get(ref).labels or {})
    except docker.errors.DockerException:
        return None
    finally:
        client.close()


def _show(ids: list[str]) -> str:
    return f"[{', '.join(ids)}]"


def _show_waves(layers: list[list[str]]) -> str:
    return "[" + ", ".join(_show(w) for w in layers) + "]"
