"""`history` and `rollback` of one service's helm release.

history: helm's revisions (`helm history`) with chart version, image tag (the chart's appVersion is the tag,
chart/package.py), time, status and description; a revision whose rollout tracking failed (deploy/rollout.py
labels it) shows as "failed rollout" although helm calls it deployed or superseded.

rollback: `helm rollback` to ``--to`` (default: the newest earlier revision that was deployed and whose rollout
did not fail), then tracked to Ready by the tracker deploys use (deploy/rollout.py: Rollout.look, track.track),
and reported like a deploy: a Report with one ServiceReport (deployed, or failed with what tracking saw).
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tars_tasks.core.errors import UsageError
from tars_tasks.core.helm import Helm, HelmError, seconds
from tars_tasks.core.services import Service
from tars_tasks.deploy.configs import rollback as configs_rollback
from tars_tasks.deploy.kube import Kube, KubeError
from tars_tasks.deploy.records import Records
from tars_tasks.deploy.report import Report, ServiceReport, ServiceStatus, StepRecord
from tars_tasks.deploy.rollout import Rollout, RolloutPolicy
from tars_tasks.deploy.track import READY, Target, failure_summary, track
from tars_tasks.project import Project
from tars_tasks.state.verification import Verification

ROLLED_BACK_TO = ("superseded", "deployed")  # helm statuses of revisions that once ran


@dataclass
class Revision:
    revision: int
    updated: str
    status: str
    chart: str
    image_tag: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def revisions(helm: Helm, kube: Kube, release: str, namespace: str) -> list[Revision]:
    """Oldest first; [] when the release does not exist."""
    entries = helm.history(release, namespace)
    marks = kube.rollout_marks(namespace, release) if entries else {}
    out = []
    for e in entries:
        number = int(e.get("revision") or 0)
        failed = marks.get(number) is Verification.FAILED
        status = "failed rollout" if failed else str(e.get("status") or "")
        out.append(Revision(number, str(e.get("updated") or ""), status, str(e.get("chart") or ""),
                            str(e.get("app_version") or ""), str(e.get("description") or "")))
    return out


def pick_revision(history: list[Revision], to: int | None) -> int:
    """The revision to go back to: ``to`` when it exists and is not the current one, else the previous good one."""
    if not history:
        raise UsageError("nothing to roll back: the release was never installed here")
    current = history[-1].revision
    known = {r.revision for r in history}
    if to is not None:
        if to not in known:
            raise UsageError(f"--to {to}: no such revision (known: {', '.join(str(r) for r in sorted(known))})")
        if to == current:
            raise UsageError(f"--to {to} is the current revision")
        return to
    earlier = [r.revision for r in history if r.revision < current and r.status in ROLLED_BACK_TO]
    if not earlier:
        raise UsageError("no earlier revision that ran to go back to (see `invoke history`)")
    return max(earlier)


def rollback(project: Project, service: Service, to: int | None = None, namespace: str | None = None,
             progress: Callable[[str], None] = lambda msg: None, helm: Helm | None = None,
             kube: Kube | None = None) -> tuple[int, Report]:
    """Roll ``service`` back and track it to Ready; returns the revision rolled back to and the report."""
    settings = project.settings
    ns = namespace or settings.namespace
    helm = helm or Helm.from_settings(settings)
    kube = kube or Kube.from_settings(settings)
    started = time.monotonic()
    history = revisions(helm, kube, service.name, ns)
    target_rev = pick_revision(history, to)
    report = ServiceReport(service.id)
    if any(r.revision == target_rev and r.status == "failed rollout" for r in history):
        report.warnings.append(f"revision {target_rev} failed its rollout when it was deployed: it may fail again")
        progress(f"warning: {report.warnings[-1]}")
    step = report.steps.setdefault("rollback", StepRecord(time.time()))
    try:
        progress(f"helm rollback {service.name} {target_rev}")
        person = Records(settings.root).record(service).get("createPerson", "")  # as a deploy's new versions
        configs_rollback(helm, kube, service.name, target_rev, ns, settings.helm_timeout, progress, person)
        live = kube.tserver(ns, service.name) or {}
        report.image = str(((live.get("spec") or {}).get("release") or {}).get("image") or "")
        target = Target(ns, service.name, service.app, service.server, report.image)
        rollout = Rollout(helm, kube, ns, settings.helm_timeout, RolloutPolicy())
        verdict = track(target, rollout.look, time.monotonic() + seconds(settings.helm_timeout), progress)
    except (HelmError, KubeError) as exc:
        step.end, step.status, step.error = time.time(), "failed", str(exc)
        report.status, report.reason = ServiceStatus.FAILED, f"rollback: {exc}"
        return target_rev, Report([report], time.monotonic() - started, False, ns)
    step.end = time.time()
    took = time.monotonic() - started
    report.rollout = {"tracked": True, **verdict.to_json(), "seconds": round(took, 3), "rolledBackTo": target_rev}
    newest = max((int(r.get("revision") or 0) for r in helm.history(service.name, ns)), default=0)
    rollout.mark(service.name, newest, Verification.VERIFIED if verdict.state == READY else Verification.FAILED,
                 io.StringIO(), report.rollout)
    if verdict.state == READY:
        step.status = "ok"
        report.status = ServiceStatus.DEPLOYED
        report.reason = f"rolled back to revision {target_rev}: {verdict.progress}"
    else:
        step.status = "failed"
        report.status = ServiceStatus.FAILED
        report.reason = f"rolled back to revision {target_rev}: {failure_summary(verdict, took)}"
        step.error = report.reason
    if report.warnings:
        report.reason += f" (warning: {report.warnings[0]})"
    return target_rev, Report([report], time.monotonic() - started, False, ns)
