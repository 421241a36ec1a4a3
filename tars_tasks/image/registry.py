"""The registry is the truth about which image tags exist: Registry HTTP API v2, with basic or token auth.

Credentials come from TARS_REGISTRY_USERNAME / TARS_REGISTRY_PASSWORD, else from the docker config
(~/.docker/config.json `auths`, or $DOCKER_CONFIG). They are never printed, logged or put in errors.
"""
from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from tars_tasks.core.errors import TarsError

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


class RegistryError(TarsError):
    pass


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def docker_auth(self) -> dict:
        return {"username": self.username, "password": self.password}


def split_image(image: str) -> tuple[str, str]:
    """'host:5000/a/b' -> ('host:5000', 'a/b'); Docker Hub names get 'registry-1.docker.io'."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "registry-1.docker.io", image if "/" in image else f"library/{image}"


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[1:host.index("]")]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def load_credentials(host: str, environ: dict | None = None) -> Credentials | None:
    env = os.environ if environ is None else environ
    if env.get("TARS_REGISTRY_USERNAME"):
        return Credentials(env["TARS_REGISTRY_USERNAME"], env.get("TARS_REGISTRY_PASSWORD", ""))
    config_dir = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"):
        entry = auths.get(key)
        if entry and entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            return Credentials(user, password)
    return None


class Registry:
    """Existence checks against one registry host, reusing a token per repository."""

    def __init__(self, host: str, credentials: Credentials | None = None, timeout: float = 10.0,
                 insecure: bool | None = None):
        self.host = host
        self.credentials = credentials
        self.timeout = timeout
        self.scheme = "http" if (insecure if insecure is not None else is_loopback(host)) else "https"
        self._tokens: dict[str, str] = {}
        self._local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(self.host, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _request(self, method: str, path: str, headers: dict) -> tuple[int, dict, bytes]:
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
            except (http.client.HTTPException, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
            except (OSError, socket.timeout) as exc:
                conn.close()
                self._local.conn = None
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise RegistryError(f"registry {self.host} unreachable: {reason}") from None
        raise RegistryError(f"registry {self.host} unreachable")  # pragma: no cover

    def _auth_header(self, repository: str, challenge: str) -> str | None:
        if challenge.lower().startswith("basic"):
            return self.credentials.basic_header() if self.credentials else None
        if challenge.lower().startswith("bearer"):
            token = self._tokens.get(repository) or self._fetch_token(repository, challenge)
            return f"Bearer {token}" if token else None
        return None

    def _fetch_token(self, repository: str, challenge: str) -> str | None:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            return None
        params.setdefault("scope", f"repository:{repository}:pull")
        url = urllib.parse.urlsplit(realm)
        query = urllib.parse.urlencode(params)
        conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(url.netloc, timeout=self.timeout)
        headers = {}
        if self.credentials:
            headers["Authorization"] = self.credentials.basic_header()
        try:
            conn.request("GET", f"{url.path}?{query}", headers=headers)
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
        except (OSError, ValueError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        token = data.get("token") or data.get("access_token")
        if token:
            self._tokens[repository] = token
        return token

    def has_tag(self, repository: str, tag: str) -> bool:
        """True when repository:tag exists. Raises RegistryError when the registry cannot say."""
        path = f"/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"
        headers = {"Accept": MANIFEST_TYPES}
        token = self._tokens.get(repository)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, resp_headers, _ = self._request("HEAD", path, headers)
        if status == 401:
            auth = self._auth_header(repository, resp_headers.get("www-authenticate", ""))
            if auth is None:
                raise RegistryError(f"registry {self.host} needs credentials for {repository} "
                                    "(docker login, or TARS_REGISTRY_USERNAME/TARS_REGISTRY_PASSWORD)")
            headers["Authorization"] = auth
            status, resp_headers, _ = self._request("HEAD", path, headers)
            if status == 401:
                raise RegistryError(f"registry {self.host} refused the credentials for {repository}")
        if status == 200:
            return True
        if status == 404:
            return False
        raise RegistryError(f"registry {self.host} answered HTTP {status} for {repository}:{tag}")


class Registries:
    """One Registry per host, shared by threads."""

    def __init__(self, environ: dict | None = None):
        self._environ = environ
        self._by_host: dict[str, Registry] = {}
        self._lock = threading.Lock()

    def for_image(self, image: str) -> tuple[Registry, str]:
        host, repository = split_image(image)
        with self._lock:
            if host not in self._by_host:
                self._by_host[host] = Registry(host, load_credentials(host, self._environ))
            return self._by_host[host], repository

    def has(self, image: str, tag: str) -> bool:
        registry, repository = self.for_image(image)
        return registry.has_tag(repository, tag)
