"""Who, when and why of a release: the record the TARS web console shows in each server's release history
(the TImage release's createPerson, createTime and mark).

- createPerson: `--user`, else the service's `user` in values.yaml, else the CI's user (GITLAB_USER_LOGIN,
  GITHUB_ACTOR), else git's user.name; at most 100 characters (the CRD's limit).
- mark: `--reason`, else the service's `reason`, else the commit subject and short hash, with the CI
  pipeline's URL when known; at most 1,600 characters (the CRD's limit).
- createTime: when the deploy runs (UTC). The chart keeps the record the live TImage already has for the
  same release id (helm `lookup`), so a release keeps the record of its first deploy.

None of them is part of the packaged chart, so none changes its version (a rerun with nothing changed
deploys nothing): they reach helm at deploy time as a values file of their own (`releaseRecord:`).
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from tars_tasks.core.redact import redact_text
from tars_tasks.core.services import Service

MAX_PERSON = 100
MAX_MARK = 1600
GIT_TIMEOUT = 30


@dataclass(frozen=True)
class RecordInputs:
    """What the person running the release said: `--user` and `--reason` (None: not given)."""

    user: str | None = None
    reason: str | None = None


def ci_user(environ: Mapping[str, str]) -> str:
    return environ.get("GITLAB_USER_LOGIN") or environ.get("GITHUB_ACTOR") or ""


def pipeline_url(environ: Mapping[str, str]) -> str:
    """GitLab's CI_PIPELINE_URL, or the GitHub Actions run built from GITHUB_SERVER_URL/REPOSITORY/RUN_ID."""
    if environ.get("CI_PIPELINE_URL"):
        return environ["CI_PIPELINE_URL"]
    parts = [environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0].rstrip('/')}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else ""


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def commit_mark(root: Path) -> str:
    """'<subject> (<short hash>)' of HEAD, '' outside git."""
    subject, _, short = _git(root, "log", "-1", "--format=%s%x00%h").partition("\0")
    return f"{subject} ({short})" if short else ""


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


class Records:
    """The release record of each service in one run; git and CI are asked once, lazily (threads share it)."""

    def __init__(self, root: Path, inputs: RecordInputs = RecordInputs(), environ: Mapping[str, str] | None = None):
        self.root = root
        self.inputs = inputs
        self.environ = dict(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._defaults: tuple[str, str] | None = None

    def defaults(self) -> tuple[str, str]:
        """(person, mark) when neither the flags nor values.yaml say."""
        with self._lock:
            if self._defaults is None:
                person = ci_user(self.environ) or _git(self.root, "config", "user.name")
                mark = " ".join(x for x in (commit_mark(self.root), pipeline_url(self.environ)) if x)
                self._defaults = (person, mark)
            return self._defaults

    def record(self, service: Service, now: datetime | None = None) -> dict[str, str]:
        """createPerson, createTime and mark of this deploy of ``service`` (empty ones left out)."""
        values = service.values
        given_user = values.get("user") if isinstance(values.get("user"), str) else None
        given_reason = values.get("reason") if isinstance(values.get("reason"), str) else None
        person = self.inputs.user or given_user or ""
        mark = self.inputs.reason or given_reason or ""
        if not person or not mark:
            default_person, default_mark = self.defaults()
            person, mark = person or default_person, mark or default_mark
        when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        record = {"createPerson": trim(person.strip(), MAX_PERSON), "createTime": when,
                  "mark": trim(redact_text(mark.strip()), MAX_MARK)}
        return {k: v for k, v in record.items() if v}

    def values_file(self, service: Service, folder: Path) -> Path:
        """The record as a helm values file in ``folder`` (JSON is YAML)."""
        path = folder / f"{service.name}.release-record.json"
        path.write_text(json.dumps({"releaseRecord": self.record(service)}, ensure_ascii=False) + "\n",
                        encoding="utf-8")
        return path
