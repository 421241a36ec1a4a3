"""The helm binary, used by validate, chart, plan and deploy: argv lists only, a timeout on every call
(calls that only read — list, status, get, history — a short one of their own, `tars.helm_read_timeout`),
stderr kept in errors, secrets redacted. Each helm runs in its own process group, stoppable on a signal
(core/children.py)."""
from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tars_tasks.core import children
from tars_tasks.core.errors import TarsError
from tars_tasks.core.redact import redact, redact_text

if TYPE_CHECKING:  # pragma: no cover
    from tars_tasks.core.settings import Settings

# on helm's release record of every release this tool installs (helm >= 4: `--labels`); see operate/status.py
MANAGED_LABEL = "tars-tasks.io/managed"


class HelmError(TarsError):
    pass


@dataclass(frozen=True)
class Helm:
    binary: str
    kube_context: str = ""
    timeout: float = 600.0
    read_timeout: float = 30.0  # list, status, get, history: a hung API server must not block a plan for long
    # values files added to every upgrade_install, apart from the chart (deploy/records.py: release records)
    upgrade_values: tuple[str, ...] = ()
    # a values document given to every upgrade_install on helm's stdin (`--values -`): the resolved secrets,
    # which never go to a file (core/secrets.py)
    upgrade_stdin: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Helm:
        """The configured helm binary, kube context and read timeout (tars.helm, tars.kube_context,
        tars.helm_read_timeout)."""
        return cls(settings.helm_binary(), settings.kube_context, read_timeout=seconds(settings.helm_read_timeout))

    def _global(self) -> list[str]:
        return ["--kube-context", self.kube_context] if self.kube_context else []

    def run(self, args: Sequence[str], timeout: float | None = None, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess:
        argv = [self.binary, *args, *self._global()]
        try:
            proc = children.run(argv, timeout=timeout or self.timeout, stdin=stdin)
        except FileNotFoundError:
            raise HelmError(f"helm not found at {self.binary}") from None
        except subprocess.TimeoutExpired:
            raise HelmError(f"`{' '.join(redact(argv))}` timed out after {timeout or self.timeout:.0f}s") from None
        if check and proc.returncode != 0:
            detail = redact_text(proc.stderr.strip() or proc.stdout.strip())
            raise HelmError(f"`{' '.join(redact(argv))}` failed (exit {proc.returncode}): {detail}")
        return proc

    def read(self, args: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
        """A helm call that only reads (list, status, get, history), with the short read timeout."""
        return self.run(args, timeout=self.read_timeout, check=check)

    def template(self, release: str, chart: str, namespace: str) -> str:
        return self.run(["template", release, chart, "--namespace", namespace]).stdout

    def template_against(self, release: str, chart: str, namespace: str, stdin_values: str | None = None) -> str:
        """`helm template` as an upgrade would render it now: lookups see the live cluster (`--dry-run=server`),
        so kept replicas and the TImage's earlier releases are what the upgrade would write; ``stdin_values``:
        the values an upgrade gets on its stdin (the resolved secrets), given the same way."""
        args = ["template", release, chart, "--namespace", namespace, "--dry-run=server"]
        return self.run(args + (["--values", "-"] if stdin_values is not None else []), stdin=stdin_values).stdout

    def template_upgrade(self, release: str, chart: str, namespace: str) -> str:
        """`helm template` with the values an upgrade_install adds (the release record; the resolved secrets on
        stdin): the objects the upgrade will apply (lookups see nothing; deploy/configs.py reads only the
        TConfigs)."""
        args = ["template", release, chart, "--namespace", namespace]
        for path in self.upgrade_values:
            args += ["--values", path]
        if self.upgrade_stdin is not None:
            args += ["--values", "-"]
        return self.run(args, stdin=self.upgrade_stdin).stdout

    def values(self, release: str, namespace: str, revision: int) -> dict[str, Any]:
        """All the values (the chart's and those given at deploy time) of one revision of a release."""
        out = self.read(["get", "values", release, "--namespace", namespace, "--revision", str(revision), "--all",
                         "--output", "json"]).stdout
        try:
            data = json.loads(out or "{}")
        except json.JSONDecodeError:
            raise HelmError(f"helm get values printed something that is not JSON: {out[:200]!r}") from None
        return data if isinstance(data, dict) else {}

    def lint(self, chart: str) -> str:
        return self.run(["lint", chart, "--quiet"]).stdout

    def lint_many(self, charts: Sequence[str]) -> dict[str, str]:
        """One `helm lint` of many charts: chart -> its `[ERROR]` lines ("" when it passed). helm lints each
        path given in turn and heads each one's findings with `==> Linting <path>`."""
        if not charts:
            return {}
        proc = self.run(["lint", *charts, "--quiet"], check=False)
        found: dict[str, list[str]] = {chart: [] for chart in charts}
        current: str | None = None
        for line in proc.stdout.splitlines():
            if line.startswith("==> Linting "):
                current = line[len("==> Linting "):].strip()
            elif current in found and line.startswith("[ERROR]"):
                found[current].append(redact_text(line))
        if proc.returncode != 0 and not any(found.values()):  # failed without saying which: every chart alone
            return {chart: self._lint_alone(chart) for chart in charts}
        return {chart: "; ".join(lines) for chart, lines in found.items()}

    def _lint_alone(self, chart: str) -> str:
        try:
            self.lint(chart)
        except HelmError as exc:
            return str(exc)
        return ""

    def upgrade_install(self, release: str, chart: str, namespace: str, timeout: str,
                        helm_waits: bool = True, sets: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
        """Install or upgrade. ``helm_waits``: helm's own --wait and rollback on failure (helm 4 renamed
        --atomic), as with `--no-wait`; otherwise the caller tracks the rollout and rolls back itself. ``sets``:
        `--set` values over everything (a canary step's partition: deploy/canary.py)."""
        args = ["upgrade", "--install", release, chart, "--namespace", namespace, "--create-namespace",
                "--timeout", timeout]
        if helm_waits:
            args += ["--atomic" if self.major() < 4 else "--rollback-on-failure", "--wait"]
        for path in self.upgrade_values:
            args += ["--values", path]
        if self.upgrade_stdin is not None:
            args += ["--values", "-"]
        if self.major() >= 4:  # the release record says who made it: `status`/`prune` find orphans by it
            args.append(f"--labels={MANAGED_LABEL}=true")
        # TConfig versions are kept apart from the release (deploy/configs.py, helm-template/templates/tconfig.yaml)
        args += ["--set", "tarsTasks.configsApart=true"]
        for value in sets:
            args += ["--set", value]
        return self.run(args, timeout=seconds(timeout) + 60, stdin=self.upgrade_stdin)

    def history(self, release: str, namespace: str) -> list[dict[str, Any]]:
        """The release's revisions, oldest first ([] when it was never installed)."""
        proc = self.read(["history", release, "--namespace", namespace, "--output", "json", "--max", "256"],
                         check=False)
        if proc.returncode != 0:
            if "not found" in (proc.stderr + proc.stdout).lower():
                return []
            raise HelmError(f"helm history {release} failed (exit {proc.returncode}): "
                            f"{redact_text(proc.stderr.strip())}")
        data = _json_list(proc.stdout, "helm history")
        return sorted(data, key=lambda r: int(r.get("revision") or 0))

    def rollback(self, release: str, revision: int, namespace: str, timeout: str) -> None:
        self.run(["rollback", release, str(revision), "--namespace", namespace, "--timeout", timeout],
                 timeout=seconds(timeout) + 60)

    def uninstall(self, release: str, namespace: str, timeout: str) -> None:
        self.run(["uninstall", release, "--namespace", namespace, "--timeout", timeout],
                 timeout=seconds(timeout) + 60)

    def list_releases(self, namespace: str, selector: str = "") -> list[dict[str, Any]]:
        """`helm list` of a namespace; ``selector`` filters on the labels of each release's current record."""
        args = ["list", "--namespace", namespace, "--deployed", "--failed", "--pending", "--output", "json",
                "--max", "0"]
        out = self.read(args + (["--selector", selector] if selector else [])).stdout
        return _json_list(out, "helm list")

    def major(self) -> int:
        return _major(self.binary)


_MAJOR_CACHE: dict[str, int] = {}
_MAJOR_LOCK = threading.Lock()


def _major(binary: str) -> int:
    """helm's major version, asked once per binary per process: the lock makes threads that ask at the
    same time (parallel deploys) wait for the one `helm version` instead of each running their own."""
    with _MAJOR_LOCK:
        if binary not in _MAJOR_CACHE:
            try:
                out = subprocess.run([binary, "version", "--short"], capture_output=True, text=True,
                                     timeout=30).stdout
                m = re.search(r"v(\d+)\.", out)
                _MAJOR_CACHE[binary] = int(m.group(1)) if m else 3
            except (OSError, subprocess.TimeoutExpired):
                _MAJOR_CACHE[binary] = 3
        return _MAJOR_CACHE[binary]


def _json_list(out: str, what: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(out or "[]")
    except json.JSONDecodeError:
        raise HelmError(f"{what} printed something that is not JSON: {out[:200]!r}") from None
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


def seconds(duration: str) -> float:
    """A helm/Go duration (`5m0s`, `90s`, `1h`) in seconds; 300 when it names none."""
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total or 300.0
