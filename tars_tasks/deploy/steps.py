"""The work of one service in a release: its image, its chart, its deploy. Each step raises on failure.

The scheduler (deploy/scheduler.py) decides when a step runs; deploy/runner.py wires steps to services.
"""
from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TextIO, cast

from tars_tasks.chart.package import package, secret_values
from tars_tasks.chart.umbrella import BATCH, render_each, workers
from tars_tasks.core.errors import TarsError
from tars_tasks.core.fsio import Log, open_log
from tars_tasks.core.helm import Helm, HelmError
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.deploy import configs as tconfigs
from tars_tasks.deploy.canary import CanarySpec, paused_message
from tars_tasks.deploy.kube import Kube, cluster_configured
from tars_tasks.deploy.records import Records
from tars_tasks.deploy.report import ServiceReport, ServiceStatus
from tars_tasks.deploy.rollout import DeployFailed, Interrupted, Rollout, RolloutPolicy
from tars_tasks.deploy.track import PULL_RETRYING, PULL_TERMINAL, Target
from tars_tasks.deploy.watch import NamespaceWatch
from tars_tasks.image.artifacts import Artifact
from tars_tasks.image.images import ImageBuilder
from tars_tasks.plan.make import REPAIR_REASON
from tars_tasks.plan.model import Plan, Step
from tars_tasks.validate.conformance import crd_problems, parse

Progress = Callable[[str, str, str], None]  # (service id, step, message)
DECLARED_REPLICAS = "tars-tasks.io/declared-replicas"  # helm-template/templates/tserver.yaml


def pull_failed(rollout: dict) -> bool:
    """Whether tracking saw a pod fail to pull its image (the tag remembered as in the registry may be gone)."""
    return any(pod.get("reason") in PULL_TERMINAL + PULL_RETRYING for pod in rollout.get("pods") or [])


@dataclass
class Steps:
    settings: Settings
    plan: Plan
    artifacts: dict[str, Artifact]
    helm: Helm
    builder: ImageBuilder
    reports: dict[str, ServiceReport]
    dry_run: bool
    chart_dir: Path
    crd_check: bool = True
    progress: Progress = lambda sid, step, msg: None
    policy: RolloutPolicy = field(default_factory=RolloutPolicy)
    chart_paths: dict[str, Path] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # service id -> the image its chart deploys
    records: Records | None = None  # who/when/why of each release (None: from values.yaml, CI and git)
    checked: dict[str, str] = field(default_factory=dict)  # dry run: id -> what check_charts found ("": fine)
    waiting: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext  # scheduler.py Scheduler.waiting
    _kube: Kube | None = None
    _watch: NamespaceWatch | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def image(self, sid: str) -> None:
        """Build (and push) the image unless the registry has its tag."""
        push = self.plan.by_id()[sid].needs(Step.PUSH) and not self.dry_run
        result = self.builder.ensure(self.artifacts[sid], push=push)
        self.reports[sid].build = result.to_json()
        if not result.ok:
            raise TarsError(f"image: {result.reason}")

    def _package(self, sid: str) -> Path:
        chart, path = package(self.artifacts[sid].service, self.settings, self.artifacts[sid].tag, self.chart_dir)
        self.chart_paths[sid] = path
        self.images[sid] = chart.image
        return path

    def _crd_message(self, rendered: str) -> str:
        problems = crd_problems(parse(rendered), self.settings.path(self.settings.crds_dir)) if self.crd_check else []
        return "rendered manifests break the CRD: " + "; ".join(problems[:3]) if problems else ""

    def check_charts(self, sids: Sequence[str]) -> None:
        """A dry run packages, renders, CRD-checks and lints the charts of ``sids`` before the task graph runs,
        in bounded batches (chart/umbrella.py): a few hundred charts per helm process, one process per core,
        instead of two helm processes per service. Each chart step then reports what its chart got."""
        if not self.dry_run or not sids:
            return
        charts = {sid: self._package(sid) for sid in sids}
        paths = [str(charts[sid]) for sid in sids]
        services = [self.artifacts[sid].service for sid in sids]
        for service, out in render_each(self.settings, services, artifacts=self.artifacts,
                                        namespace=self.plan.namespace, charts=charts):
            self.checked[service.id] = str(out) if isinstance(out, HelmError) else self._crd_message(out)
        by_path = dict(zip(paths, sids))
        with ThreadPoolExecutor(workers(self.settings)) as pool:
            for found in pool.map(self.helm.lint_many, [paths[i:i + BATCH] for i in range(0, len(paths), BATCH)]):
                for path, errors in found.items():
                    sid = by_path[path]
                    if errors and not self.checked[sid]:
                        self.checked[sid] = f"helm lint: {errors}"

    def chart(self, sid: str) -> None:
        """Package the chart; in a dry run also render, lint and check it against the CRD schemas (done for
        every chart at once by check_charts when the runner called it)."""
        path = self.chart_paths.get(sid) or self._package(sid)
        self.reports[sid].chart = str(path)
        if not self.dry_run:
            return
        found = self.checked.get(sid)
        if found is None:  # not checked in a batch: this chart alone
            service = self.artifacts[sid].service
            found = self._crd_message(self.helm.template(service.name, str(path), self.plan.namespace))
            self.helm.lint(str(path))
        if found:
            raise TarsError(found)

    def kube(self) -> Kube:
        if self._kube is None:
            self._kube = Kube.from_settings(self.settings)
        return self._kube

    def namespace_watch(self) -> NamespaceWatch:
        """The run's watches of its namespace, started by the first deploy (deploy/watch.py); close() stops them."""
        with self._lock:
            if self._watch is None:
                self._watch = NamespaceWatch(self.kube(), self.plan.namespace).start()
            return self._watch

    def close(self) -> None:
        if self._watch is not None:
            self._watch.close()

    def deploy(self, sid: str) -> None:
        """helm upgrade --install, then track the rollout to Ready (deploy/rollout.py); a dry run writes what
        it would run."""
        service = self.artifacts[sid].service
        log_path = self.settings.log_path / f"{sid}.deploy.log"
        chart = self.chart_paths[sid]
        if self.dry_run:
            with open_log(log_path, self.settings.root) as log:
                log.write(f"dry run: would run helm upgrade --install {service.name} {chart} "
                          f"--namespace {self.plan.namespace}\n")
            self._log_warning(sid, log)
            return
        target = Target(self.plan.namespace, service.name, service.app, service.server, self.images[sid])
        if self.records is None:  # two threads may both make one: they say the same
            self.records = Records(self.settings.root)
        records = self.records
        with TemporaryDirectory(prefix="tars-record-") as tmp, open_log(log_path, self.settings.root) as log:
            # the release record goes to helm beside the chart, not in it: it never changes the chart version
            values = (str(records.values_file(service, Path(tmp))),)
            # the resolved secrets go on helm's stdin, never to a file: the packaged chart holds only references
            secrets = secret_values(service, self.settings, self.artifacts[sid].tag)
            helm = replace(self.helm, upgrade_values=values, upgrade_stdin=secrets)
            record = records.record(service)
            declares = any(service.values.get(k) for k in ("config", "nodeConfig", "appConfig"))
            rollout = Rollout(helm, self.kube(), self.plan.namespace, self.settings.helm_timeout, self.policy,
                              declares_configs=declares, configs_in_cluster=cluster_configured(),
                              config_person=record.get("createPerson", ""),
                              config_reason=record.get("mark", ""),
                              watch=self.namespace_watch() if cluster_configured() else None)
            paused = rollout.paused_canary(target) if cluster_configured() else None
            if paused is not None and not self.policy.resume:  # promote/abort first: never a second revision
                state = {"tracked": False, "state": "canary paused", "canary": paused}
                self.reports[sid].rollout = state
                raise DeployFailed(paused_message(sid, paused), ServiceStatus.FAILED, state)
            if self.plan.by_id()[sid].replace:  # plan/cluster_rules.py: an immutable field changes
                self.progress(sid, "deploy", "--replace: uninstalling the deployed release first")
                log.writelines(f"{line}\n" for line in tconfigs.uninstall(
                    helm, self.kube(), service.name, self.plan.namespace, self.settings.helm_timeout,
                    lambda msg: self.progress(sid, "deploy", msg), self.policy.cancel))
            if any(r.startswith(REPAIR_REASON) for r in self.plan.by_id()[sid].reasons):
                # the chart keeps replicas a person scaled to while their declaration is unchanged (a lookup of
                # this annotation): marking it changed makes the upgrade apply the declared replicas again
                self.kube().annotate_tserver(self.plan.namespace, service.name, {DECLARED_REPLICAS: "repair"})
            spec = self._canary_spec(service)
            if self.policy.resume and spec is None:
                spec = CanarySpec((100,))  # promote/abort: the recorded canary decides the steps
            try:
                if spec is not None:
                    self.reports[sid].rollout = rollout.canary(
                        target, str(chart), spec, self._replicas(service), str(service.dir), cast(TextIO, log),
                        lambda msg: self.progress(sid, "deploy", msg), self.waiting)
                    return
                self.reports[sid].rollout = rollout.deploy(
                    target, str(chart), cast(TextIO, log), lambda msg: self.progress(sid, "deploy", msg),
                    self.waiting)
            except DeployFailed as exc:
                self.reports[sid].rollout = exc.rollout
                if not isinstance(exc, Interrupted) and pull_failed(exc.rollout):
                    self.builder.registries.pull_failed(self.images[sid])
                    raise DeployFailed(f"{exc} (the cluster could not pull {self.images[sid]}: its tag is forgotten, "
                                       "so the next plan asks the registry again and builds it if it is gone; "
                                       "--refresh forgets every remembered tag)", exc.status, exc.rollout) from None
                raise
            finally:  # the cluster outcome decides the status; a log that could not be written is a warning
                self._log_warning(sid, log)

    def _canary_spec(self, service: Service) -> CanarySpec | None:
        """The command line's --canary over the service's declared `canary` (deploy/canary.py); None: no canary."""
        if service.values.get("daemonSet") is True:
            return None  # a DaemonSet has no partition: --canary deploys it plainly (validate refuses a declared one)
        declared = CanarySpec.from_values(service.values)
        if declared is None:
            return self.policy.canary
        return declared.with_overrides(self.policy.canary)

    def _replicas(self, service: Service) -> int:
        """The pods the canary spans: the declared replicas, or those a person scaled to while the declaration
        is unchanged (what the chart keeps: helm-template/templates/tserver.yaml)."""
        declared = int(service.values.get("replicas", 1) or 0)
        live = self.kube().tserver(self.plan.namespace, service.name) or {}
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        scaled = ((live.get("spec") or {}).get("k8s") or {}).get("replicas")
        if annotations.get(DECLARED_REPLICAS) == str(declared) and isinstance(scaled, int):
            return scaled
        return declared

    def _log_warning(self, sid: str, log: Log) -> None:
        if log.error:
            self.reports[sid].warnings.append(log.error)
            self.progress(sid, "deploy", f"warning: {log.error}")

    def by_name(self) -> dict[str, Callable[[str], None]]:
        return {"image": self.image, "chart": self.chart, "deploy": self.deploy}
