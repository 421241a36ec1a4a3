"""Run a plan: one task graph of image → chart → deploy per changed service, each deploy after its
dependencies' deploys, on the generic scheduler. Turns the scheduler's outcomes into a Report.

A failure skips only the services that depend on it; the others go on unless fail_fast. After ``cancel``
(a signal) nothing new starts, and every service that did not finish is "interrupted". Nothing is kept
between runs: a rerun plans again and redoes what did not finish.
"""
from __future__ import annotations

import threading
import time

from tars_tasks.core.redact import redact_text
from tars_tasks.deploy.report import Report, ServiceStatus, StepRecord
from tars_tasks.deploy.scheduler import Outcome, Scheduler, TaskState
from tars_tasks.deploy.steps import Steps
from tars_tasks.plan.model import Plan, Step

Task = tuple[str, str]  # (service id, step name)


def task_graph(plan: Plan) -> dict[Task, list[Task]]:
    """Per changed service: image (when it must be built or pushed) and chart, then deploy after both and
    after the deploys of its changed dependencies."""
    planned = plan.by_id()
    needs: dict[Task, list[Task]] = {}
    for p in plan.services:
        if not p.changed:
            continue
        own = [(p.id, "chart")]
        if p.needs(Step.BUILD) or p.needs(Step.PUSH):
            own.append((p.id, "image"))
        for task in own:
            needs[task] = []
        needs[(p.id, "deploy")] = own + [(d, "deploy") for d in p.dependsOn if d in planned and planned[d].changed]
    return needs


class Runner:
    def __init__(self, plan: Plan, steps: Steps, jobs: int, fail_fast: bool = False,
                 cancel: threading.Event | None = None):
        self.plan = plan
        self.steps = steps
        self.jobs = max(1, jobs)
        self.fail_fast = fail_fast
        self.cancel = cancel or threading.Event()
        self.reports = steps.reports
        self._lock = threading.Lock()

    def _start(self, task: Task) -> None:
        sid, step = task
        self.steps.progress(sid, step, "started")
        self.reports[sid].steps[step] = StepRecord(time.time())

    def _end(self, task: Task, outcome: Outcome[Task]) -> None:
        sid, step = task
        report = self.reports[sid]
        with self._lock:
            if outcome.state is TaskState.DONE:
                report.steps[step].end, report.steps[step].status = time.time(), "ok"
                dry = self.plan.dry_run or self.steps.dry_run
                self.steps.progress(sid, step, "done (dry run: not applied)" if dry and step == "deploy" else "done")
                if step == "deploy":
                    report.status = ServiceStatus.DRY_RUN if dry else ServiceStatus.DEPLOYED
                    report.reason = ("rendered and checked; nothing applied" if dry
                                     else "; ".join(self.plan.by_id()[sid].reasons))
                    if report.rollout is not None and not report.rollout.get("tracked", True):
                        report.reason += "; not tracked (--no-wait)"
                    if report.rollout is not None and report.rollout.get("recovered"):
                        stuck = report.rollout["recovered"]
                        report.reason += (f"; release was left {stuck['status']} (revision {stuck['revision']}): "
                                          f"{stuck['action']} first")
            elif outcome.state is TaskState.FAILED:
                message = redact_text(str(outcome.error))
                record = report.steps[step]
                record.end, record.status, record.error = time.time(), "failed", message
                report.status = getattr(outcome.error, "status", ServiceStatus.FAILED)
                if self.cancel.is_set() and not hasattr(outcome.error, "status"):  # a child stopped by the signal
                    report.status, message = ServiceStatus.INTERRUPTED, f"interrupted ({message})"
                report.reason = f"{step}: {message}"
                self.steps.progress(sid, step, f"failed: {report.reason}")
            elif outcome.state is TaskState.SKIPPED and report.status is ServiceStatus.PENDING:
                report.status = ServiceStatus.SKIPPED
                cause = outcome.cause
                if self.cancel.is_set():
                    report.status, report.reason = ServiceStatus.INTERRUPTED, "interrupted before it started"
                elif cause is not None and cause[0] != sid and self.fail_fast and cause not in self._upstream(task):
                    report.reason = f"--fail-fast after {cause[0]} failed"
                elif cause is not None and cause[0] != sid:
                    report.reason = f"because {self._blocking(task, cause)} failed or was skipped"

    def _blocking(self, task: Task, cause: Task) -> str:
        """The dependency that kept ``task`` from running (the one it names, not the root cause)."""
        for dep_sid, _ in self._needs.get(task, []):
            if dep_sid != task[0] and self.reports[dep_sid].status in (
                    ServiceStatus.FAILED, ServiceStatus.SKIPPED, ServiceStatus.ABORTED, ServiceStatus.ROLLED_BACK,
                    ServiceStatus.PAUSED):
                return dep_sid
        return cause[0]

    def _upstream(self, task: Task) -> set[Task]:
        needs = self._needs
        seen: set[Task] = set()
        todo = list(needs.get(task, []))
        while todo:
            t = todo.pop()
            if t not in seen:
                seen.add(t)
                todo.extend(needs.get(t, []))
        return seen

    def run(self) -> Report:
        start = time.monotonic()
        for p in self.plan.services:
            if not p.changed:
                self.reports[p.id].status = ServiceStatus.UNCHANGED
                self.reports[p.id].reason = "; ".join(p.reasons)
        self._needs = task_graph(self.plan)
        self.steps.check_charts([sid for sid, step in self._needs if step == "chart"])  # a dry run's, in batches
        by_name = self.steps.by_name()
        scheduler: Scheduler[Task] = Scheduler(self._needs, lambda task: by_name[task[1]](task[0]), self.jobs,
                                               self.fail_fast, self._start, self._end, self.cancel)
        self.steps.waiting = scheduler.waiting  # a deploy that only tracks its rollout gives its --jobs slot up
        try:
            scheduler.execute()
        finally:
            self.steps.close()
        for rep in self.reports.values():  # a service whose own step was skipped after its other step failed
            if rep.status is ServiceStatus.PENDING and self.cancel.is_set():
                rep.status, rep.reason = ServiceStatus.INTERRUPTED, rep.reason or "interrupted before it ended"
            elif rep.status is ServiceStatus.PENDING:
                rep.status, rep.reason = ServiceStatus.SKIPPED, rep.reason or "not run"
        order = [p.id for p in self.plan.services]
        return Report([self.reports[i] for i in order], time.monotonic() - start, self.steps.dry_run,
                      self.plan.namespace, interrupted=self.cancel.is_set())
