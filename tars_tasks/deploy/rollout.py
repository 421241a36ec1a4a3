"""One service's deploy on a real cluster: helm upgrade, track the rollout to Ready, explain a failure,
roll back to the last good revision.

- The upgrade runs without helm's own --wait/--rollback-on-failure (they cannot see a TServer's pods).
- Tracking (deploy/track.py) shares the deadline `tars.helm_timeout` with the upgrade.
- A failure is explained the way a person would look it up: per pod the waiting/terminated reason, the last
  lines of the failing container's log, the Warning events of the TServer, its workload and its pods.
- An upgrade that fails is rolled back to the revision that was deployed before it (`helm rollback`), and
  that is tracked back to Ready; `rollback=False` keeps the failed upgrade for inspection. A first install
  that fails is left in place for debugging, unless `cleanup_on_fail` (then it is uninstalled).
- `track=False` is helm's own behaviour (`--wait --rollback-on-failure`), reported as "not tracked".
- TConfig versions (deploy/configs.py) are kept apart from the helm release: created or re-activated before
  the upgrade (masters first), the undeclared ones removed once it is Ready; a rollback re-activates those of
  the revision it goes back to, an uninstall removes them all.
- A release found stuck (`pending-install/-upgrade/-rollback`: a helm that was killed or timed out) is
  recovered before the upgrade when it is older than the helm timeout (the caller holds the namespace's
  release lock, so no run of this tool is working on it): rolled back to its last deployed revision, or
  uninstalled when it never deployed. A younger one fails the service, naming the command that clears it.
- `policy.cancel` set (a signal): tracking stops, a helm that was stopped mid-upgrade has its pending
  release recovered at once, and the service is reported "interrupted".
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from tars_tasks.core.errors import TarsError
from tars_tasks.core.helm import Helm, HelmError, redact_text, seconds
from tars_tasks.deploy import configs as tconfigs
from tars_tasks.deploy.canary import (
    CANARY_ANNOTATION,
    CanaryReport,
    CanarySpec,
    CanaryStep,
    paused_message,
    plan_steps,
    read_pause,
    run_check,
    wait_pause,
    write_pause,
)
from tars_tasks.deploy.kube import Kube, KubeError
from tars_tasks.deploy.report import ServiceStatus
from tars_tasks.deploy.track import (
    FAILED,
    READY,
    Target,
    Verdict,
    failure_summary,
    generation_of,
    judge,
    track,
)
from tars_tasks.deploy.watch import NamespaceWatch
from tars_tasks.state.verification import Verification

LOG_LINES = 20
# reasons of a container that never started: it has no log to show
NO_LOG_YET = ("Unschedulable", "Pending", "ContainerCreating", "PodInitializing", "ErrImagePull",
              "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError")
EVENTS_SHOWN = 10


class DeployFailed(TarsError):
    """The deploy failed; ``status`` says whether it was rolled back, ``rollout`` what tracking saw."""

    def __init__(self, message: str, status: ServiceStatus, rollout: dict[str, Any]):
        super().__init__(message)
        self.status = status
        self.rollout = rollout


class Aborted(DeployFailed):
    """A canary step failed and the service went back to its previous revision (deploy/canary.py)."""

    def __init__(self, message: str, rollout: dict[str, Any]):
        super().__init__(message, ServiceStatus.ABORTED, rollout)


class Paused(DeployFailed):
    """A canary stopped at a step (`pause: manual`, or promote --step): recorded on the TServer."""

    def __init__(self, message: str, rollout: dict[str, Any]):
        super().__init__(message, ServiceStatus.PAUSED, rollout)


class Interrupted(DeployFailed):
    """A signal stopped the deploy (policy.cancel)."""

    def __init__(self, message: str, rollout: dict[str, Any]):
        super().__init__(message, ServiceStatus.INTERRUPTED, rollout)


@dataclass(frozen=True)
class RolloutPolicy:
    track: bool = True  # False: --no-wait (helm's own wait; nothing tracked)
    rollback: bool = True  # False: --no-rollback
    cleanup_on_fail: bool = False  # a failed first install is uninstalled
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)  # set: stop (a signal)
    canary: CanarySpec | None = None  # --canary: for every changed service, over what its values.yaml declares
    resume: str = ""  # "promote" | "abort": a paused canary (invoke promote / invoke abort)
    promote_to: int | None = None  # promote --step N (None: every remaining step)


def helm_time(value: Any) -> datetime | None:
    """helm's `updated` (`2024-05-01T10:00:00.123456789+02:00`, Go's default `2024-05-01 10:00:00.1 +0000 UTC`)."""
    m = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?", str(value or ""))
    if not m:
        return None
    zone = (m.group(3) or "+00:00").replace("Z", "+00:00")
    zone = zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{zone}")


def stuck_revision(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest revision when helm left it pending (install, upgrade or rollback), else None."""
    last = history[-1] if history else None
    return last if last is not None and str(last.get("status", "")).startswith("pending-") else None


def last_good_revision(history: list[dict[str, Any]], failed: set[int], status: str = "deployed") -> int | None:
    """The revision to go back to when an upgrade fails: the one the cluster runs now (helm status "deployed"),
    unless tracking proved it failed (then there is none: treated as a first install). ``status``
    "superseded": the newest earlier revision that ran and did not fail (when the current one is re-tracked)."""
    ran = [int(r["revision"]) for r in history if r.get("status") in (status, "deployed") and r.get("revision")]
    if status == "deployed":
        current = max(ran) if ran else None
        return None if current is None or current in failed else current
    good = [rev for rev in ran if rev not in failed]
    return max(good) if good else None


def unverified_current(history: list[dict[str, Any]], marks: dict[int, Verification], chart: str) -> int | None:
    """The current revision when it is deployed with this very chart and tracking never proved it either way
    (interrupted, API lost): a deploy tracks it again instead of applying the same chart once more."""
    last = history[-1] if history else None
    if last is None or last.get("status") != "deployed" or str(last.get("chart")) != chart:
        return None
    revision = int(last.get("revision") or 0)
    return revision if revision and revision not in marks else None


def _event(event: dict[str, Any]) -> dict[str, Any]:
    about = event.get("involvedObject") or {}
    return {"object": f"{about.get('kind')}/{about.get('name')}", "reason": event.get("reason", ""),
            "message": event.get("message", ""), "count": event.get("count") or 1}


@dataclass
class Rollout:
    helm: Helm
    kube: Kube
    namespace: str
    timeout: str
    policy: RolloutPolicy
    watch: NamespaceWatch | None = None  # the run's watches of the namespace (None: every look asks the API)
    _seen: int | None = field(default=None, init=False, repr=False)  # the watch's change count at the last look
    declares_configs: bool = True  # False: the service declares no config (nothing to render and create)
    configs_in_cluster: bool = True  # False: no Kubernetes API is configured (only helm is): TConfigs untouched
    config_person: str = ""  # who and why, written once on each new TConfig version (deploy/configs.py)
    config_reason: str = ""

    def _configs_before(self, target: Target, chart: str, log: TextIO,
                        progress: Callable[[str], None]) -> list[dict[str, Any]]:
        """The service's TConfig versions created or re-activated, masters first, before helm applies them."""
        if not (self.declares_configs and self.configs_in_cluster):
            return []
        wanted = tconfigs.in_manifest(self.helm.template_upgrade(target.name, chart, self.namespace))
        configs = tconfigs.Configs(self.kube, self.namespace, progress)
        try:
            configs.ensure(target.name, wanted, self.config_person, self.config_reason)
        finally:  # what was written, also when the framework refused a later one
            log.writelines(f"{line}\n" for line in configs.done)
        return wanted

    def _configs_after(self, target: Target, wanted: list[dict[str, Any]], log: TextIO,
                       progress: Callable[[str], None], rollout: dict[str, Any]) -> None:
        """The versions of configs no longer declared removed, once the release is applied; a signal stops the
        wait for the framework's deletion guard (Interrupted, naming what is left)."""
        if not self.configs_in_cluster:
            return
        configs = tconfigs.Configs(self.kube, self.namespace, progress, cancel=self.policy.cancel)
        try:
            configs.remove(configs.obsolete(target.name, wanted), tconfigs.removal_deadline(self.timeout))
        except tconfigs.WaitStopped as exc:
            raise Interrupted(f"the release is applied; {exc} (`invoke deploy --service {target.app}.{target.server}` "
                              "removes them)", rollout) from None
        finally:
            log.writelines(f"{line}\n" for line in configs.done)

    def _rollback(self, release: str, revision: int, log: TextIO, progress: Callable[[str], None]) -> None:
        """helm rollback, with the revision's TConfig versions re-activated first (deploy/configs.py)."""
        if not self.configs_in_cluster:
            self.helm.rollback(release, revision, self.namespace, self.timeout)
            return
        log.writelines(f"{line}\n" for line in tconfigs.rollback(self.helm, self.kube, release, revision,
                                                                  self.namespace, self.timeout, progress,
                                                                  self.config_person, self.policy.cancel))

    def _uninstall(self, release: str, log: TextIO, progress: Callable[[str], None]) -> None:
        """helm uninstall, then every version of the release's configs (deploy/configs.py)."""
        if not self.configs_in_cluster:
            self.helm.uninstall(release, self.namespace, self.timeout)
            return
        log.writelines(f"{line}\n" for line in tconfigs.uninstall(self.helm, self.kube, release, self.namespace,
                                                                   self.timeout, progress, self.policy.cancel))

    def look(self, target: Target) -> Verdict:
        """One look: from the watches' cache when it is in sync, else asked of the API (three GETs)."""
        if self.watch is not None:
            verdict, self._seen = self.watch.look(target)
            if verdict is not None:
                return verdict
            self._seen = None
        tserver = self.kube.tserver(target.namespace, target.name)
        daemon = bool((((tserver or {}).get("spec") or {}).get("k8s") or {}).get("daemonSet"))
        workload = self.kube.workload(target.namespace, target.name, daemon) if tserver else None
        pods = self.kube.pods(target.namespace, target.app, target.server) if workload else []
        return judge(target, tserver, workload, pods)

    def _pause(self, interval: float) -> None:
        """Between two looks: until the watched namespace changes (at most ``interval``), else sleep it out."""
        if self.watch is not None and self._seen is not None:
            self.watch.wait(self._seen, interval)
        else:
            time.sleep(interval)

    def deploy(self, target: Target, chart: str, log: TextIO, progress: Callable[[str], None],
               waiting: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> dict[str, Any]:
        """Upgrade and track to Ready; returns what tracking saw. Raises DeployFailed or HelmError. ``waiting``
        is entered once the upgrade is applied: from then on this deploy only waits (its --jobs slot is free)."""
        if not self.policy.track:
            wanted = self._configs_before(target, chart, log, progress)
            proc = self.helm.upgrade_install(target.name, chart, self.namespace, self.timeout, helm_waits=True)
            log.write(redact_text(proc.stdout + proc.stderr))
            self._configs_after(target, wanted, log, progress, {"tracked": False})
            return {"tracked": False}
        start = time.monotonic()
        deadline = start + seconds(self.timeout)
        history = self.helm.history(target.name, self.namespace)
        recovered = self.recover_stuck(target.name, history, log, progress)
        if recovered:
            history = self.helm.history(target.name, self.namespace)
        marks = self.kube.rollout_marks(self.namespace, target.name) if history else {}
        failed = {rev for rev, mark in marks.items() if mark is Verification.FAILED}
        retrack = unverified_current(history, marks, Path(chart).name.removesuffix(".tgz"))
        if retrack is not None:  # the cluster has this very chart, never proved Ready: track it, do not apply again
            previous = last_good_revision(history[:-1], failed, "superseded")
            log.write(f"revision {retrack} of {target.name} was never verified Ready: tracking it again\n")
            progress(f"revision {retrack} was not verified: tracking it again")
            wanted = self._configs_before(target, chart, log, progress)  # they exist: nothing is created again
            revision = retrack
        else:
            previous = last_good_revision(history, failed)
            self._check_cancel({"tracked": True, "state": "not applied"}, "before the upgrade started")
            made, wanted = self._upgrade(target, chart, previous, log, progress)
            revision = made or self._newest(target.name)
        log.write(f"tracking {target.name} revision {revision} to Ready (image {target.image})\n")
        rollout: dict[str, Any] = {"tracked": True, "revision": revision}
        with waiting():
            verdict = self._track(target, deadline, progress, rollout, revision)
        rollout.update({**verdict.to_json(), "seconds": round(time.monotonic() - start, 3)})
        if recovered:
            rollout["recovered"] = recovered
        if retrack is not None:
            rollout["retracked"] = True
        if verdict.state == READY:
            self.mark(target.name, revision, Verification.VERIFIED, log, rollout)
            log.write(f"ready: {verdict.progress} in {rollout['seconds']}s\n")
            self._configs_after(target, wanted, log, progress, rollout)
            return rollout
        summary = failure_summary(verdict, time.monotonic() - start)
        rollout["failure"] = self.explain(target, verdict, summary)
        self.mark(target.name, revision, Verification.FAILED, log, rollout)  # helm calls it deployed; we do not
        self._write_explanation(log, rollout["failure"])
        self._undo(target, previous, rollout, summary, log, progress)
        raise DeployFailed(summary, ServiceStatus.FAILED, rollout)  # _undo raises when it rolled back

    def _upgrade(self, target: Target, chart: str, previous: int | None, log: TextIO,
                 progress: Callable[[str], None], sets: tuple[str, ...] = ()) -> tuple[int, list[dict[str, Any]]]:
        """The service's config versions, then helm upgrade --install: (the revision it made, 0 when its output
        did not say; the config versions it declares). ``sets``: a canary step's values."""
        try:
            wanted = self._configs_before(target, chart, log, progress)
            proc = self.helm.upgrade_install(target.name, chart, self.namespace, self.timeout, helm_waits=False,
                                             sets=sets)
            log.write(redact_text(proc.stdout + proc.stderr))
            said = re.search(r"^REVISION: (\d+)$", proc.stdout, re.MULTILINE)
            return (int(said.group(1)) if said else 0), wanted
        except (HelmError, KubeError) as exc:
            log.write(f"{exc}\n")
            if self.policy.cancel.is_set():  # our helm was stopped: nobody else works on its release
                self.recover_stuck(target.name, self.helm.history(target.name, self.namespace), log, progress,
                                   force=True)
                self._check_cancel({"tracked": True, "state": "not applied"}, "helm upgrade was stopped")
            self._undo(target, previous, {"tracked": True, "state": "not applied"}, str(exc), log, progress)
            raise

    def _newest(self, release: str) -> int:
        revisions = [int(r.get("revision") or 0) for r in self.helm.history(release, self.namespace)]
        return max(revisions, default=0)

    def _track(self, target: Target, deadline: float, progress: Callable[[str], None], rollout: dict[str, Any],
               revision: int) -> Verdict:
        """Track to a verdict; the API lost for good leaves the revision unverified (the next plan tracks it)."""
        try:
            return track(target, self._after_apply(), deadline, progress, self._pause)
        except KubeError as exc:
            rollout.update(state="unverified", apiError=str(exc))
            raise DeployFailed(f"tracking lost the cluster ({exc}): revision {revision} is unverified; the next "
                               "release tracks it again", ServiceStatus.FAILED, rollout) from None

    def _after_apply(self) -> Callable[[Target], Verdict]:
        """Looks that first read the TServer's generation from the API once (a GET, retried by track like any
        look): the watch cache may not have the apply yet, and state older than it is never judged."""
        written: list[int] = []

        def look(target: Target) -> Verdict:
            if not written:
                written.append(generation_of(self.kube.tserver(target.namespace, target.name)))
            return self._look_unless_cancelled(dataclasses.replace(target, generation=written[0]))
        return look

    def mark(self, release: str, revision: int, verdict: Verification, log: TextIO, rollout: dict[str, Any]) -> None:
        """Record what tracking proved; when that cannot be written the revision stays unverified (the truth)."""
        if not revision:
            return
        try:
            self.kube.mark_rollout(self.namespace, release, revision, verdict)
            rollout["verification"] = verdict.value
        except KubeError as exc:
            rollout["verification"] = Verification.UNVERIFIED.value
            log.write(f"could not record revision {revision} as {verdict.value} ({exc}): it stays unverified\n")

    def _check_cancel(self, rollout: dict[str, Any], when: str) -> None:
        if self.policy.cancel.is_set():
            raise Interrupted(f"interrupted {when}", rollout)

    def _look_unless_cancelled(self, target: Target) -> Verdict:
        self._check_cancel({"tracked": True, "state": "applied, not tracked to the end"},
                           "while tracking (helm applied the release; the cluster goes on rolling it out)")
        return self.look(target)

    def recover_stuck(self, release: str, history: list[dict[str, Any]], log: TextIO,
                      progress: Callable[[str], None], force: bool = False) -> dict[str, Any] | None:
        """A release helm left pending: older than the helm timeout (or ``force``: the helm we ran was stopped)
        it is rolled back to its last deployed revision, or uninstalled when it never deployed; younger, the
        deploy fails naming the command that clears it. Returns what was done (None: nothing was stuck)."""
        stuck = stuck_revision(history)
        if stuck is None:
            return None
        status, revision = stuck.get("status"), int(stuck.get("revision") or 0)
        updated = helm_time(stuck.get("updated"))
        age = (datetime.now(timezone.utc) - updated).total_seconds() if updated else float("inf")
        good = last_good_revision(history, set())
        ns = self.namespace
        clear = f"helm rollback {release} {good} -n {ns}" if good else f"helm uninstall {release} -n {ns}"
        if not force and age < seconds(self.timeout):
            raise DeployFailed(
                f"helm release {release} is {status} (revision {revision}, {age:.0f}s old): a helm may still be "
                f"working on it; if none is, clear it with `{clear}` (this tool does so itself once it is older than "
                f"tars.helm_timeout {self.timeout})", ServiceStatus.FAILED, {"tracked": False, "state": "stuck"})
        progress(f"recovering release {release} left {status}")
        if good:
            self._rollback(release, good, log, progress)
            action = f"rolled back to revision {good}"
        else:
            self._uninstall(release, log, progress)
            action = "uninstalled (it never deployed)"
        log.write(f"release {release} was left {status} (revision {revision}): {action}\n")
        return {"status": status, "revision": revision, "action": action}

    def explain(self, target: Target, verdict: Verdict, summary: str) -> dict[str, Any]:
        failing = next((i for i in verdict.issues if i.reason not in NO_LOG_YET), None)
        lines: list[str] = []
        if failing is not None:
            try:
                # what the container prints may hold the secrets it was given: hidden by value here, in the
                # report itself, whatever shows or stores it later
                lines = [redact_text(line) for line in
                         self.kube.log_tail(target.namespace, failing.pod, failing.container or target.name, LOG_LINES)]
            except KubeError as exc:  # the explanation is best effort: say why there is no log
                lines = [f"(no log: {exc})"]
        try:
            found = self.kube.warning_events(target.namespace, self._current_uids(target))
            events = [_event(e) for e in found][-EVENTS_SHOWN:]
        except KubeError as exc:  # best effort too: the failure is what tracking saw, not what explains it
            events = [{"object": "", "reason": "NotRead", "message": f"events could not be read: {exc}", "count": 1}]
        return {"summary": summary, "log": {"pod": failing.pod, "container": failing.container or target.name,
                                            "lines": lines} if failing else None, "events": events}

    def _current_uids(self, target: Target) -> set[str]:
        """The uids of the TServer, its workload and the pods that exist now (events of replaced pods of the same
        names are history, not the reason)."""
        tserver = self.kube.tserver(target.namespace, target.name)
        daemon = bool((((tserver or {}).get("spec") or {}).get("k8s") or {}).get("daemonSet"))
        workload = self.kube.workload(target.namespace, target.name, daemon) if tserver else None
        objects = [tserver, workload, *self.kube.pods(target.namespace, target.app, target.server)]
        uids = {str((o.get("metadata") or {}).get("uid") or "") for o in objects if o}
        return uids - {""}

    @staticmethod
    def _write_explanation(log: TextIO, failure: dict[str, Any]) -> None:
        log.write(f"FAILED: {failure['summary']}\n")
        if failure["log"]:
            log.write(f"--- last lines of {failure['log']['pod']}/{failure['log']['container']}:\n")
            log.writelines(f"{line}\n" for line in failure["log"]["lines"])
        if failure["events"]:
            log.write("--- Warning events:\n")
            log.writelines(f"{e['object']}: {e['reason']}: {e['message']} (x{e['count']})\n" for e in failure["events"])

    def _undo(self, target: Target, previous: int | None, rollout: dict[str, Any], summary: str, log: TextIO,
              progress: Callable[[str], None]) -> None:
        """Roll an upgrade back (raising DeployFailed rolled-back), or clean up a failed first install."""
        if previous is None:
            if self.policy.cleanup_on_fail:
                self._uninstall(target.name, log, progress)
                log.write("first install failed: uninstalled (--cleanup-on-fail)\n")
                rollout["cleanedUp"] = True
            else:
                log.write("first install failed: left in place for debugging (--cleanup-on-fail removes it)\n")
            return
        if not self.policy.rollback:
            log.write(f"not rolled back (--no-rollback); revision {previous} was the last good one\n")
            return
        progress(f"rolling back to revision {previous}")
        self._rollback(target.name, previous, log, progress)
        live = self.kube.tserver(target.namespace, target.name) or {}
        image = (((live.get("spec") or {}).get("release")) or {}).get("image") or target.image
        back = Target(target.namespace, target.name, target.app, target.server, image, generation_of(live))
        verdict = track(back, self.look, time.monotonic() + seconds(self.timeout), progress, self._pause)
        rollout["rolledBackTo"] = previous
        rollout["rollback"] = verdict.to_json()
        mark: dict[str, Any] = {}
        self.mark(target.name, self._newest(target.name),
                   Verification.VERIFIED if verdict.state == READY else Verification.FAILED, log, mark)
        rollout["rollback"]["verification"] = mark.get("verification", Verification.UNVERIFIED.value)
        state = "ready" if verdict.state == READY else "NOT ready"
        log.write(f"rolled back to revision {previous} (image {image}): {state} ({verdict.progress})\n")
        if verdict.state == FAILED:
            raise DeployFailed(f"{summary}; rolled back to revision {previous}, which is not ready either "
                               f"({failure_summary(verdict, seconds(self.timeout))})", ServiceStatus.FAILED, rollout)
        raise DeployFailed(f"failed, rolled back to revision {previous}: {summary}", ServiceStatus.ROLLED_BACK,
                           rollout)

    # --- canary (deploy/canary.py) ---------------------------------------------------------------------------

    def canary(self, target: Target, chart: str, spec: CanarySpec, replicas: int, check_dir: str, log: TextIO,
               progress: Callable[[str], None],
               waiting: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> dict[str, Any]:
        """Deploy step by step: per step a helm upgrade with the step's partition, tracked by revision until
        exactly that many pods run the new revision Ready; then the pause and the check. A failure at any step
        rolls back to the previous revision (raises Aborted); `pause: manual` (or a signal) stops at a step,
        recorded on the TServer (raises Paused / Interrupted). A first install, or --no-wait, is a plain deploy.
        ``policy.resume`` "promote"/"abort": go on from, or back out of, the recorded step."""
        if self.policy.resume:
            return self._resume(target, chart, spec, self.paused_canary(target), check_dir, log, progress, waiting)
        history = self.helm.history(target.name, self.namespace)
        marks = self.kube.rollout_marks(self.namespace, target.name) if history else {}
        previous = last_good_revision(history, {r for r, m in marks.items() if m is Verification.FAILED})
        if previous is None or not self.policy.track or stuck_revision(history) is not None:
            why = "first install" if previous is None else "not tracked or recovering a stuck release"
            log.write(f"{why}: no canary (there are no pods of an earlier revision to keep)\n")
            rollout = self.deploy(target, chart, log, progress, waiting)
            rollout["canary"] = CanaryReport(note=f"{why}: no canary").to_json()
            return rollout
        steps, warning = plan_steps(replicas, spec.steps)
        report = CanaryReport(note=warning, previous=previous, replicas=replicas, percents=list(spec.steps),
                              chart=Path(chart).name.removesuffix(".tgz"))
        if warning:
            log.write(f"warning: {warning}\n")
            progress(f"warning: {warning}")
        return self._canary_steps(target, chart, spec, steps, list(steps), report, check_dir, log, progress, waiting)

    def _resume(self, target: Target, chart: str, spec: CanarySpec, paused: dict[str, Any] | None, check_dir: str,
                log: TextIO, progress: Callable[[str], None],
                waiting: Callable[[], AbstractContextManager[None]]) -> dict[str, Any]:
        """`invoke promote` (the steps after the recorded one, up to --step) or `invoke abort` (back out)."""
        if paused is None:
            raise DeployFailed(f"{target.name} has no paused canary to {self.policy.resume}", ServiceStatus.FAILED,
                               {"tracked": False, "state": "no canary"})
        steps, _ = plan_steps(int(paused["replicas"]), paused["percents"])
        report = CanaryReport(previous=int(paused["previous"]), replicas=int(paused["replicas"]),
                              percents=list(paused["percents"]), chart=str(paused.get("chart", "")))
        done = steps[int(paused["step"]) - 1]
        if self.policy.resume == "abort":
            rollout: dict[str, Any] = {"tracked": True}
            verdict = self.look(target)
            self._abort(target, done, len(steps), "aborted by hand (invoke abort)", report.previous,
                        int(paused["revision"]), verdict, rollout, report, log, progress)
        now = Path(chart).name.removesuffix(".tgz")
        if report.chart and report.chart != now:
            raise DeployFailed(f"the canary of {target.name} deploys {report.chart} but the repo now makes {now}: "
                               "promote the commit the canary started from, or abort it", ServiceStatus.FAILED,
                               {"tracked": False, "state": "canary paused", "canary": paused})
        last = self.policy.promote_to or len(steps)
        if not done.number < last <= len(steps):
            raise DeployFailed(f"--step {last}: the canary of {target.name} is at step {done.number}/{len(steps)}; "
                               f"promote to a later step, at most {len(steps)}", ServiceStatus.FAILED,
                               {"tracked": False, "state": "canary paused", "canary": paused})
        plan = CanarySpec(spec.steps, 0.0 if spec.manual else spec.pause, spec.check)
        return self._canary_steps(target, chart, plan, steps, steps[done.number:last], report, check_dir, log,
                                  progress, waiting)

    def _canary_steps(self, target: Target, chart: str, spec: CanarySpec, steps: list[CanaryStep],
                      queue: list[CanaryStep], report: CanaryReport, check_dir: str, log: TextIO,
                      progress: Callable[[str], None],
                      waiting: Callable[[], AbstractContextManager[None]]) -> dict[str, Any]:
        """The steps of ``queue`` in order; the canary ends verified after the last of ``steps``, or paused."""
        start = time.monotonic()
        rollout: dict[str, Any] = {"tracked": True}
        previous, total = report.previous, len(steps)
        with contextlib.ExitStack() as waits:
            try:
                while True:
                    step = queue.pop(0)
                    verdict, revision, wanted = self._canary_step(target, chart, step, total, previous, report,
                                                                  rollout, log, progress)
                    if len(report.steps) == 1:  # applied: from now on this deploy only waits (its slot is free)
                        waits.enter_context(waiting())
                    if verdict.state != READY:
                        self._abort(target, step, total, failure_summary(verdict, seconds(self.timeout)),
                                    previous, revision, verdict, rollout, report, log, progress)
                    if step.number == total:
                        break
                    # what tracking proved of this step's revision (its partition Ready): a plan leaves it alone
                    self.mark(target.name, revision, Verification.VERIFIED, log, report.steps[-1])
                    if step.number == 1 and len(report.steps[-1]["pods"]) <= 1:  # every pod on one revision
                        report.note = "no new pod revision: no canary (straight to 100%)"
                        log.write(f"{report.note}\n")
                        queue = steps[-1:]
                        continue
                    self._canary_wait(target, step, total, int(report.replicas), spec, check_dir, previous,
                                      revision, verdict, rollout, report, log, progress)
                    if spec.manual or not queue:
                        rollout.update({**verdict.to_json(), "revision": revision})
                        self._record_pause(target, report, log, rollout)
                        raise Paused(paused_message(f"{target.app}.{target.server}", report.paused or {}), rollout)
            except Interrupted as exc:  # a signal: the canary stays at the step it reached, recorded as paused
                self._record_pause(target, report, log, exc.rollout)
                raise
        rollout.update({**verdict.to_json(), "revision": revision, "canary": report.to_json(),
                        "seconds": round(time.monotonic() - start, 3)})
        self.mark(target.name, revision, Verification.VERIFIED, log, rollout)
        self._forget_pause(target)
        log.write(f"canary done: {verdict.progress} in {rollout['seconds']}s\n")
        self._configs_after(target, wanted, log, progress, rollout)
        return rollout

    def paused_canary(self, target: Target) -> dict[str, Any] | None:
        """The canary recorded as paused on the TServer (annotation CANARY_ANNOTATION), None when there is none."""
        live = self.kube.tserver(target.namespace, target.name) or {}
        return read_pause(((live.get("metadata") or {}).get("annotations") or {}).get(CANARY_ANNOTATION))

    def _record_pause(self, target: Target, report: CanaryReport, log: TextIO, rollout: dict[str, Any]) -> None:
        """The last step applied, written on the TServer (where `status`, promote and abort find it)."""
        if not report.steps:
            return
        report.paused = {"step": report.steps[-1]["step"], "of": report.steps[-1]["of"],
                         "revision": report.steps[-1]["revision"], "previous": report.previous,
                         "replicas": report.replicas, "percents": report.percents, "chart": report.chart}
        rollout["canary"] = report.to_json()
        try:
            self.kube.annotate_tserver(target.namespace, target.name, {CANARY_ANNOTATION: write_pause(report.paused)})
            log.write(f"canary paused at step {report.paused['step']}/{report.paused['of']}: recorded on TServer "
                      f"{target.name}\n")
        except KubeError as exc:
            log.write(f"could not record the paused canary on TServer {target.name}: {exc}\n")

    def _forget_pause(self, target: Target) -> None:
        with contextlib.suppress(KubeError):
            self.kube.annotate_tserver(target.namespace, target.name, {CANARY_ANNOTATION: None})

    def _canary_step(self, target: Target, chart: str, step: CanaryStep, total: int, previous: int,
                     report: CanaryReport, rollout: dict[str, Any], log: TextIO, progress: Callable[[str], None]
                     ) -> tuple[Verdict, int, list[dict[str, Any]]]:
        """One step applied (the partition as a value; none at the last) and tracked by revision."""
        self._check_cancel({"tracked": True, "state": f"canary before step {step.number}/{total}",
                            "canary": report.to_json()}, f"before canary step {step.number}/{total}")
        sets = () if step.partition == 0 else ("updateStrategy.type=RollingUpdate",
                                               f"updateStrategy.rollingUpdate.partition={step.partition}")
        progress(f"canary {step.number}/{total}: {step.percent}% ({step.updated} pod(s) on the new revision)")
        made, wanted = self._upgrade(target, chart, previous, log, progress, sets)
        revision = made or self._newest(target.name)
        log.write(f"canary step {step.number}/{total} ({step.percent}%): revision {revision}, partition "
                  f"{step.partition}, tracking {step.updated} pod(s) of the new revision to Ready\n")
        verdict = self._track(target, time.monotonic() + seconds(self.timeout), progress, rollout, revision)
        report.steps.append({"step": step.number, "of": total, "percent": step.percent, "partition": step.partition,
                             "updated": step.updated, "revision": revision, "state": verdict.state,
                             "pods": self.pods_by_revision(target)})
        return verdict, revision, wanted

    def _canary_wait(self, target: Target, step: CanaryStep, total: int, replicas: int, spec: CanarySpec,
                     check_dir: str, previous: int, revision: int, verdict: Verdict, rollout: dict[str, Any],
                     report: CanaryReport, log: TextIO, progress: Callable[[str], None]) -> None:
        """The pause after a step, then its check; a check that fails aborts."""
        if spec.pause:
            progress(f"canary {step.number}/{total}: pausing {spec.pause:g}s")
            log.write(f"canary step {step.number}/{total}: pausing {spec.pause:g}s\n")
            log.flush()
            if not wait_pause(spec.pause, self.policy.cancel):
                self._check_cancel({"tracked": True, "state": f"canary paused at step {step.number}/{total}",
                                    "canary": report.to_json()}, f"during the pause after canary step {step.number}")
        if not spec.check:
            return
        live = self.kube.tserver(target.namespace, target.name) or {}
        env = {"TARS_NAMESPACE": target.namespace, "TARS_SERVER": target.name,
               "TARS_RELEASE_ID": str(((live.get("spec") or {}).get("release") or {}).get("id", "")),
               "TARS_CANARY_STEP": str(step.number), "TARS_CANARY_UPDATED": str(step.updated),
               "TARS_CANARY_REPLICAS": str(replicas)}
        progress(f"canary {step.number}/{total}: check {spec.check[0]}")
        result = run_check(spec.check, env, check_dir, log, seconds(self.timeout))
        report.steps[-1]["check"] = result.to_json()
        if not result.ok:
            why = result.error or f"exit code {result.exit_code}"
            self._abort(target, step, total, f"check {' '.join(spec.check)} failed ({why})", previous, revision,
                        verdict, rollout, report, log, progress)

    def _abort(self, target: Target, step: CanaryStep, total: int, reason: str, previous: int, revision: int,
               verdict: Verdict, rollout: dict[str, Any], report: CanaryReport, log: TextIO,
               progress: Callable[[str], None]) -> None:
        """Back to the previous revision (helm rollback, tracked to Ready); raises Aborted, or DeployFailed when
        the rollback itself is not Ready."""
        report.aborted = {"step": step.number, "of": total, "percent": step.percent, "reason": reason}
        rollout.update({**verdict.to_json(), "revision": revision})
        if verdict.state != READY:
            rollout["failure"] = self.explain(target, verdict, reason)
            self._write_explanation(log, rollout["failure"])
        log.write(f"canary aborted at step {step.number}/{total} ({step.percent}%): {reason}\n")
        self.mark(target.name, revision, Verification.FAILED, log, rollout)
        rollout["canary"] = report.to_json()
        try:
            self._undo(target, previous, rollout, reason, log, progress)
        except DeployFailed as exc:
            if exc.status is not ServiceStatus.ROLLED_BACK:
                raise
        self._forget_pause(target)
        raise Aborted(f"canary aborted at step {step.number}/{total} ({step.percent}%): {reason}; rolled back to "
                      f"revision {previous}", rollout)

    def pods_by_revision(self, target: Target) -> dict[str, int]:
        """How many pods run each revision (controller-revision-hash) now."""
        counts: dict[str, int] = {}
        for pod in self.kube.pods(target.namespace, target.app, target.server):
            rev = ((pod.get("metadata") or {}).get("labels") or {}).get("controller-revision-hash", "")
            counts[rev] = counts.get(rev, 0) + 1
        return counts
