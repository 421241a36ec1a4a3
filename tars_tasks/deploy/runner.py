"""Run a plan as a task graph on a worker pool: image → chart → deploy, each deploy after its dependencies.

A service's deploy starts as soon as its own image and chart are ready and every dependency's deploy has
succeeded (no waiting for a whole wave). A failure skips only the services that depend on it; the others
go on unless fail_fast. Nothing is kept between runs: a rerun plans again and redoes what did not finish.
"""
from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from tars_tasks.build.artifacts import Artifact
from tars_tasks.build.images import ImageBuilder
from tars_tasks.chart.package import package
from tars_tasks.core.errors import TarsError
from tars_tasks.core.project import Project
from tars_tasks.deploy.helm import Helm, HelmError, redact_text
from tars_tasks.plan.model import Plan
from tars_tasks.validate.conformance import crd_problems, parse

Progress = Callable[[str, str, str], None]  # (service id, step, message)


@dataclass
class ServiceReport:
    id: str
    status: str = "pending"  # deployed | dry-run | unchanged | failed | skipped
    reason: str = ""
    image: str = ""
    chart: str = ""  # path of the packaged chart
    build: dict | None = None
    steps: dict[str, dict] = field(default_factory=dict)  # step -> {start, end, seconds, status}

    def to_json(self) -> dict:
        return {"id": self.id, "status": self.status, "reason": self.reason, "image": self.image,
                "chart": self.chart, "build": self.build, "steps": self.steps}


@dataclass
class Report:
    services: list[ServiceReport]
    seconds: float
    dry_run: bool
    namespace: str

    @property
    def ok(self) -> bool:
        return all(s.status in ("deployed", "unchanged", "dry-run") for s in self.services)

    def to_json(self) -> dict:
        counts: dict[str, int] = {}
        for s in self.services:
            counts[s.status] = counts.get(s.status, 0) + 1
        return {"ok": self.ok, "dryRun": self.dry_run, "namespace": self.namespace, "seconds": round(self.seconds, 3),
                "counts": counts, "services": [s.to_json() for s in self.services]}


class Runner:
    def __init__(self, project: Project, plan: Plan, artifacts: dict[str, Artifact], helm: Helm,
                 builder: ImageBuilder, jobs: int, dry_run: bool, fail_fast: bool = False,
                 progress: Progress | None = None, chart_dir: Path | None = None):
        self.project = project
        self.plan = plan
        self.artifacts = artifacts
        self.helm = helm
        self.builder = builder
        self.jobs = max(1, jobs)
        self.dry_run = dry_run
        self.fail_fast = fail_fast
        self.progress = progress or (lambda sid, step, msg: None)
        self.chart_dir = chart_dir or project.settings.dist_path / "charts"
        self.planned = plan.by_id()
        self.reports = {p.id: ServiceReport(p.id, image=p.image) for p in plan.services}
        self._chart_paths: dict[str, Path] = {}

    # ---- steps -------------------------------------------------------------------------------------
    def _image(self, sid: str) -> None:
        plan = self.planned[sid]
        result = self.builder.ensure(self.artifacts[sid], push="push" in plan.steps and not self.dry_run)
        self.reports[sid].build = result.to_json()
        if not result.ok:
            raise TarsError(f"image: {result.reason}")

    def _chart(self, sid: str) -> None:
        settings = self.project.settings
        service = self.artifacts[sid].service
        _, path = package(service, settings, self.artifacts[sid].tag, self.chart_dir)
        self._chart_paths[sid] = path
        self.reports[sid].chart = str(path)
        if self.dry_run:  # render and check what would be applied
            manifests = parse(self.helm.template(service.name, str(path), self.plan.namespace))
            self.helm.lint(str(path))
            if settings.crds_dir:
                problems = crd_problems(manifests, Path(settings.crds_dir))
                if problems:
                    raise TarsError("rendered manifests break the CRD: " + "; ".join(problems[:3]))

    def _deploy(self, sid: str) -> None:
        service = self.artifacts[sid].service
        settings = self.project.settings
        log = settings.log_path / f"{sid}.deploy.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if self.dry_run:
            log.write_text(f"dry run: would run helm upgrade --install {service.name} {self._chart_paths[sid]} "
                           f"--namespace {self.plan.namespace}\n")
            return
        try:
            proc = self.helm.upgrade_install(service.name, str(self._chart_paths[sid]), self.plan.namespace,
                                             settings.helm_timeout)
            log.write_text(redact_text(proc.stdout + proc.stderr))
        except HelmError as exc:
            log.write_text(str(exc) + "\n")
            raise

    # ---- graph -------------------------------------------------------------------------------------
    def run(self) -> Report:
        start = time.monotonic()
        tasks: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for p in self.plan.services:
            if not p.changed:
                self.reports[p.id].status = "unchanged"
                self.reports[p.id].reason = "; ".join(p.reasons)
                continue
            needs_image = "build" in p.steps or "push" in p.steps
            if needs_image:
                tasks[(p.id, "image")] = []
            tasks[(p.id, "chart")] = []
            deps = [(p.id, "chart")] + ([(p.id, "image")] if needs_image else [])
            deps += [(d, "deploy") for d in p.dependsOn if d in self.planned and self.planned[d].changed]
            tasks[(p.id, "deploy")] = deps
        state: dict[tuple[str, str], str] = {t: "pending" for t in tasks}
        failed_first: list[str] = []
        run_step = {"image": self._image, "chart": self._chart, "deploy": self._deploy}

        def execute(task: tuple[str, str]) -> None:
            sid, step = task
            t0 = time.time()
            self.progress(sid, step, "started")
            rec = {"start": t0}
            self.reports[sid].steps[step] = rec
            try:
                run_step[step](sid)
                rec["status"] = "ok"
            except Exception as exc:  # noqa: BLE001 - reported per service, never a traceback
                rec["status"] = "failed"
                rec["error"] = redact_text(str(exc))
                raise
            finally:
                rec["end"] = time.time()
                rec["seconds"] = round(rec["end"] - t0, 3)

        with ThreadPoolExecutor(self.jobs) as pool:
            running: dict[Future, tuple[str, str]] = {}
            while True:
                for task, deps in tasks.items():
                    if state[task] != "pending":
                        continue
                    blocked = [d for d in deps if state[d] in ("failed", "skipped")]
                    if blocked or (self.fail_fast and failed_first):
                        state[task] = "skipped"
                        sid = task[0]
                        if self.reports[sid].status == "pending":
                            self.reports[sid].status = "skipped"
                            if blocked and blocked[0][0] != sid:
                                self.reports[sid].reason = f"because {blocked[0][0]} failed or was skipped"
                            elif failed_first:
                                self.reports[sid].reason = f"--fail-fast after {failed_first[0]} failed"
                        continue
                    if all(state[d] == "done" for d in deps):
                        state[task] = "running"
                        running[pool.submit(execute, task)] = task
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in done:
                    task = running.pop(fut)
                    sid, step = task
                    exc = fut.exception()
                    if exc is None:
                        state[task] = "done"
                        self.progress(sid, step, "done (dry run: not applied)" if self.dry_run and step == "deploy"
                                      else "done")
                        if step == "deploy":
                            self.reports[sid].status = "dry-run" if self.dry_run else "deployed"
                            self.reports[sid].reason = ("rendered and checked; nothing applied" if self.dry_run
                                                        else "; ".join(self.planned[sid].reasons))
                    else:
                        state[task] = "failed"
                        failed_first.append(sid)
                        self.reports[sid].status = "failed"
                        self.reports[sid].reason = f"{step}: {redact_text(str(exc))}"
                        self.progress(sid, step, f"failed: {self.reports[sid].reason}")
        for rep in self.reports.values():  # a skipped own step (e.g. image failed) already marked failed
            if rep.status == "pending":
                rep.status, rep.reason = "skipped", rep.reason or "not run"
        order = [p.id for p in self.plan.services]
        return Report([self.reports[i] for i in order], time.monotonic() - start, self.dry_run, self.plan.namespace)
