"""How the Kubernetes client authenticates: what of a kubeconfig's `users` entry is supported, and the exec
credential plugins (`users[].user.exec`) that current EKS, GKE and AKS kubeconfigs use.

lightkube (deploy/kube.py) runs exec plugins only for `client.authentication.k8s.io/v1alpha1` and `v1beta1`, and
fails at the first request, deep in a request, for `v1`, which is what `aws eks get-token`, `gke-gcloud-auth-plugin`
and `kubelogin` write now. So the plugin is run here, for all three versions, the way client-go (and so helm) runs
it: the command (relative to the kubeconfig's folder when it holds a `/`), its `args`, the environment plus its
`env` and KUBERNETES_EXEC_INFO (an ExecCredential whose `spec` says it is not interactive, and holds the cluster
when `provideClusterInfo`), stdin closed, at most EXEC_TIMEOUT seconds. Its `status.token` is the bearer token,
kept until its `expirationTimestamp` or a 401, then asked again.

Supported users: a token, a token file, username and password, a client certificate and key (files or data),
and exec plugins returning a token. Not supported, each a clear error (exit 2) naming the kubeconfig: the
`auth-provider` plugins (removed from kubectl in 1.26), an exec plugin that must ask a person
(`interactiveMode: Always`), and one that returns a client certificate instead of a token.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Generator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tars_tasks.core.errors import UsageError
from tars_tasks.core.redact import register_secret

EXEC_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1",
                 "client.authentication.k8s.io/v1alpha1")
EXEC_TIMEOUT = 60.0
EARLY = 30.0  # seconds before a token's expiry at which it is asked for again


class KubeConfigError(UsageError):
    """The kubeconfig asks for something this client cannot do, or its credential plugin failed (exit 2)."""


def check_user(user: Mapping[str, Any], where: str) -> None:
    """Refuse what no supported way of authenticating covers, before any request (see the module docstring)."""
    if user.get("auth-provider"):
        name = (user.get("auth-provider") or {}).get("name", "?")
        raise KubeConfigError(f"{where}: auth-provider {name!r} is not supported (kubectl dropped it in 1.26): use "
                              "an exec credential plugin (e.g. gke-gcloud-auth-plugin, kubelogin)")
    exec_ = user.get("exec")
    if exec_:
        if exec_.get("apiVersion") not in EXEC_VERSIONS:
            raise KubeConfigError(f"{where}: exec apiVersion {exec_.get('apiVersion')!r} is not supported "
                                  f"(supported: {', '.join(EXEC_VERSIONS)})")
        if not exec_.get("command"):
            raise KubeConfigError(f"{where}: exec has no command")
        if exec_.get("interactiveMode") == "Always":
            raise KubeConfigError(f"{where}: exec interactiveMode Always needs a person at a terminal; this tool "
                                  "runs non-interactively (use a plugin mode that needs none)")


class ExecCredentialAuth(httpx.Auth):
    """A bearer token from an exec credential plugin, cached until it expires or the server answers 401."""

    def __init__(self, exec_: Mapping[str, Any], where: str, base: Path | None = None,
                 cluster: Mapping[str, Any] | None = None):
        self.exec, self.where, self.base, self.cluster = dict(exec_), where, base, cluster
        self._token: str | None = None
        self._expires = float("inf")
        self._lock = threading.Lock()

    def _argv(self) -> list[str]:
        command = str(self.exec["command"])
        if "/" in command and not os.path.isabs(command) and self.base is not None:
            command = str(self.base / command)
        return [command, *[str(a) for a in self.exec.get("args") or []]]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({str(e["name"]): str(e["value"]) for e in self.exec.get("env") or [] if "name" in e})
        spec: dict[str, Any] = {"interactive": False}
        if self.exec.get("provideClusterInfo") and self.cluster is not None:
            spec["cluster"] = {k: v for k, v in self.cluster.items()
                               if k in ("server", "certificate-authority-data", "insecure-skip-tls-verify",
                                        "tls-server-name", "proxy-url")}
        env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": self.exec["apiVersion"], "kind": "ExecCredential",
                                                  "spec": spec})
        return env

    def _ask(self) -> None:
        argv = self._argv()
        hint = f" ({self.exec['installHint']})" if self.exec.get("installHint") else ""
        try:
            proc = subprocess.run(argv, env=self._env(), stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=EXEC_TIMEOUT, check=False)
        except FileNotFoundError:
            raise KubeConfigError(f"{self.where}: exec credential plugin {argv[0]!r} not found{hint}") from None
        except OSError as exc:
            raise KubeConfigError(f"{self.where}: exec credential plugin {argv[0]!r}: {exc.strerror}") from None
        except subprocess.TimeoutExpired:
            raise KubeConfigError(f"{self.where}: exec credential plugin {argv[0]!r} gave no credential within "
                                  f"{EXEC_TIMEOUT:.0f}s") from None
        if proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise KubeConfigError(f"{self.where}: exec credential plugin {argv[0]!r} failed (exit "
                                  f"{proc.returncode}){': ' + said[0][:300] if said[0] else ''}{hint}")
        self._token, self._expires = parse_credential(proc.stdout, self.where, argv[0])

    def token(self, renew: bool = False) -> str:
        with self._lock:
            if renew or self._token is None or time.time() >= self._expires - EARLY:
                self._ask()
            assert self._token is not None
            return self._token

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        sent = self.token()
        request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        if response.status_code == 401:  # revoked or expired early: once more with a fresh one
            request.headers["Authorization"] = f"Bearer {self.token(renew=self._token == sent)}"
            yield request


def kubeconfig_entry(path: Path | None, kind: str, name: str | None) -> dict[str, Any]:
    """The raw `users`/`clusters` entry ``name`` of the kubeconfig at ``path`` (its `user`/`cluster` map; {}
    when there is none): lightkube's models drop the fields this module needs (interactiveMode,
    provideClusterInfo)."""
    import yaml

    if path is None or not name:
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    for entry in (data.get(kind) if isinstance(data, dict) else None) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(kind[:-1])
            return inner if isinstance(inner, dict) else {}
    return {}


def install(client: Any, auth: httpx.Auth, where: str) -> None:
    """Make lightkube's HTTP client authenticate with ``auth`` (lightkube has no parameter for it; its client is
    built once, in the lightkube version requirements.lock pins)."""
    inner = getattr(getattr(client, "_client", None), "_client", None)
    if not isinstance(inner, httpx.Client):
        raise KubeConfigError(f"{where}: exec credential plugins need lightkube's httpx client, not found in this "
                              "lightkube version")
    inner.auth = auth


def parse_credential(stdout: bytes, where: str, command: str) -> tuple[str, float]:
    """(token, expiry as a UNIX time; inf without one) of a plugin's ExecCredential output."""
    try:
        data = json.loads(stdout)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KubeConfigError(f"{where}: exec credential plugin {command!r} printed no ExecCredential JSON") from None
    status = data.get("status") if isinstance(data, dict) else None
    if not isinstance(status, dict):
        raise KubeConfigError(f"{where}: exec credential plugin {command!r} returned no status")
    token = status.get("token")
    if not isinstance(token, str) or not token:
        if status.get("clientCertificateData"):
            raise KubeConfigError(f"{where}: exec credential plugin {command!r} returned a client certificate: "
                                  "not supported (only plugins that return a token are)")
        raise KubeConfigError(f"{where}: exec credential plugin {command!r} returned no token")
    expires = float("inf")
    stamp = status.get("expirationTimestamp")
    if isinstance(stamp, str) and stamp:
        try:
            expires = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise KubeConfigError(f"{where}: exec credential plugin {command!r}: expirationTimestamp {stamp!r} "
                                  "is not an RFC 3339 time") from None
    register_secret(token)  # a bearer token is a credential: never shown
    return token, expires
