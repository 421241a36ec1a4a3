"""The registry is the truth about which image tags exist: Registry HTTP API v2, with basic or token auth.

Credentials go only where they belong. TARS_REGISTRY_USERNAME / TARS_REGISTRY_PASSWORD are for the host of
`tars.registry` (the "home" registry) and nothing else: an image a values.yaml names on another host
(`repo.image`) gets only what the docker config (~/.docker/config.json `auths`, or $DOCKER_CONFIG) holds for
that exact host, else nothing. The same rule serves existence checks here and the docker push
(`Registries.push_auth`). Every password and token met is registered for redaction by value
(`tars_tasks.core.redact`): never printed, logged or put in errors.

Tags are immutable: `Registries.has` given the fingerprint an image must carry reads the
`io.tars-tasks.fingerprint` label from the tag's image config (manifest, then config blob) and raises
TagConflict when the tag holds other content, unless the Registries were made with ``overwrite_tag``.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tars_tasks.core.errors import TarsError
from tars_tasks.image.spec import split_reference
from tars_tasks.image.tag_memory import TagMemory

if TYPE_CHECKING:  # pragma: no cover
    from tars_tasks.core.settings import Settings
from tars_tasks.core.redact import register_secret, register_secrets

LABEL_FINGERPRINT = "io.tars-tasks.fingerprint"
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
MAX_MANIFEST_BYTES = 4 << 20
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
])


class RegistryError(TarsError):
    pass


class TagConflict(RegistryError):
    """The tag exists with other content: tags are immutable unless --overwrite-tag."""


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


def home_host(registry_setting: str) -> str:
    """The host of the `tars.registry` setting (`host:5000/team` -> `host:5000`)."""
    return split_image(registry_setting.rstrip("/") + "/x")[0]


def _docker_auths(env: Mapping[str, str]) -> dict:
    config_dir = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        auths = json.loads((config_dir / "config.json").read_text()).get("auths", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return auths if isinstance(auths, dict) else {}


def _decode_auth(entry: object) -> Credentials | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("auth"), str):
        return None
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return Credentials(user, password)


def docker_config_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every password and token the docker config holds (to redact them by value wherever they appear)."""
    out = []
    for entry in _docker_auths(os.environ if environ is None else environ).values():
        creds = _decode_auth(entry)
        if creds:
            out.append(creds.password)
        if isinstance(entry, dict):
            out += [entry[k] for k in ("auth", "password", "identitytoken", "registrytoken")
                    if isinstance(entry.get(k), str)]
    return out


def load_credentials(host: str, environ: Mapping[str, str] | None = None, home: str | None = None
                     ) -> Credentials | None:
    """The credentials for ``host``: TARS_REGISTRY_* when ``host`` is the ``home`` registry host (that of
    `tars.registry`), else the docker config entry for exactly this host, else None."""
    env = os.environ if environ is None else environ
    if home is not None and host == home_host(home) and env.get("TARS_REGISTRY_USERNAME"):
        register_secret(env.get("TARS_REGISTRY_PASSWORD", ""))
        return Credentials(env["TARS_REGISTRY_USERNAME"], env.get("TARS_REGISTRY_PASSWORD", ""))
    auths = _docker_auths(env)
    for key in (host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"):
        creds = _decode_auth(auths.get(key))
        if creds:
            register_secret(creds.password)
            return creds
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
        self._down: str | None = None  # set once a connection failed or timed out: the message every check gets
        self._down_lock = threading.Lock()

    def _mark_down(self, message: str) -> str:
        """The host is down for the rest of the run: one timeout, not one per image (thread-safe; the first
        message wins, so every check says the same)."""
        with self._down_lock:
            if self._down is None:
                self._down = message
            return self._down

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
        if self._down is not None:
            raise RegistryError(self._down)
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
                raise RegistryError(self._mark_down(f"registry {self.host} unreachable: {reason}")) from None
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
        except OSError as exc:  # the token service is down: so is this registry, for the rest of the run
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise RegistryError(self._mark_down(f"registry {self.host}: its token service {url.netloc} "
                                                f"is unreachable: {reason}")) from None
        except (ValueError, http.client.HTTPException):
            return None
        finally:
            conn.close()
        token = data.get("token") or data.get("access_token")
        if isinstance(token, str):
            register_secret(token)
        if token:
            self._tokens[repository] = token
        return token

    def _authed(self, method: str, path: str, repository: str, accept: str) -> tuple[int, dict, bytes]:
        """One request with the repository's token, answering a 401 challenge once with the host's credentials."""
        headers = {"Accept": accept}
        token = self._tokens.get(repository)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status, resp_headers, body = self._request(method, path, headers)
        if status == 401:
            auth = self._auth_header(repository, resp_headers.get("www-authenticate", ""))
            if auth is None:
                raise RegistryError(f"registry {self.host} needs credentials for {repository} "
                                    "(docker login, or TARS_REGISTRY_USERNAME/TARS_REGISTRY_PASSWORD for "
                                    "tars.registry)")
            headers["Authorization"] = auth
            status, resp_headers, body = self._request(method, path, headers)
            if status == 401:
                raise RegistryError(f"registry {self.host} refused the credentials for {repository}")
        return status, resp_headers, body

    def has_tag(self, repository: str, tag: str) -> bool:
        """True when repository:tag exists. Raises RegistryError when the registry cannot say."""
        path = f"/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"
        status, _, _ = self._authed("HEAD", path, repository, MANIFEST_TYPES)
        if status == 200:
            return True
        if status == 404:
            return False
        raise RegistryError(f"registry {self.host} answered HTTP {status} for {repository}:{tag}")

    def _json(self, path: str, repository: str, accept: str, what: str) -> dict:
        status, headers, body = self._authed("GET", path, repository, accept)
        if status in (301, 302, 303, 307, 308) and headers.get("location"):
            body = self._follow(headers["location"])
        elif status != 200:
            raise RegistryError(f"registry {self.host} answered HTTP {status} for the {what} of {repository}")
        try:
            data = json.loads(body[:MAX_MANIFEST_BYTES])
        except ValueError:
            raise RegistryError(f"registry {self.host} sent an unreadable {what} for {repository}") from None
        if not isinstance(data, dict):
            raise RegistryError(f"registry {self.host} sent an unreadable {what} for {repository}")
        return data

    def _follow(self, location: str) -> bytes:
        """A blob redirected to storage: fetched without our credentials (they belong to the registry)."""
        url = urllib.parse.urlsplit(urllib.parse.urljoin(f"{self.scheme}://{self.host}/", location))
        conn_cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(url.netloc, timeout=self.timeout)
        try:
            conn.request("GET", url.path + (f"?{url.query}" if url.query else ""))
            resp = conn.getresponse()
            if resp.status != 200:
                raise RegistryError(f"registry {self.host}: blob storage answered HTTP {resp.status}")
            return resp.read(MAX_MANIFEST_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            raise RegistryError(f"registry {self.host}: blob storage unreachable: {type(exc).__name__}") from None
        finally:
            conn.close()

    def image_label(self, repository: str, tag: str, label: str = LABEL_FINGERPRINT) -> str | None:
        """The value of ``label`` on the image repository:tag (from its config blob); None when it has none.
        For a multi-platform index, the first linux/amd64 image (else the first)."""
        quoted = urllib.parse.quote(tag, safe="")
        manifest = self._json(f"/v2/{repository}/manifests/{quoted}", repository, MANIFEST_TYPES, "manifest")
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            entries = [m for m in manifest.get("manifests") or [] if isinstance(m, dict) and m.get("digest")]
            if not entries:
                return None
            amd64 = [m for m in entries if (m.get("platform") or {}).get("architecture") == "amd64"]
            digest = (amd64 or entries)[0]["digest"]
            manifest = self._json(f"/v2/{repository}/manifests/{digest}", repository, MANIFEST_TYPES, "manifest")
        config = manifest.get("config")
        if not isinstance(config, dict) or not config.get("digest"):
            return None
        blob = self._json(f"/v2/{repository}/blobs/{config['digest']}", repository,
                          "application/json, */*", "image config")
        labels = (blob.get("config") or {}).get("Labels") or {}
        value = labels.get(label) if isinstance(labels, dict) else None
        return value if isinstance(value, str) else None


class Registries:
    """One Registry per host, shared by threads.

    ``home`` is the `tars.registry` setting: TARS_REGISTRY_* credentials go to its host only. Without it
    they go nowhere. ``overwrite_tag``: a tag holding other content is to be rebuilt and pushed over
    (`has` answers False) instead of refused.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *, home: str | None = None,
                 overwrite_tag: bool = False, memory: TagMemory | None = None):
        self._environ = environ
        self.home = home
        self.overwrite_tag = overwrite_tag
        self.memory = memory or TagMemory(None)  # tags confirmed with their fingerprint (image/tag_memory.py)
        self._by_host: dict[str, Registry] = {}
        self._lock = threading.Lock()
        env = os.environ if environ is None else environ
        register_secrets([env.get("TARS_REGISTRY_PASSWORD", ""), *docker_config_secrets(env)])

    def for_image(self, image: str) -> tuple[Registry, str]:
        host, repository = split_image(image)
        with self._lock:
            if host not in self._by_host:
                self._by_host[host] = Registry(host, load_credentials(host, self._environ, self.home))
            return self._by_host[host], repository

    def push_auth(self, image: str) -> dict | None:
        """The `auth_config` of a docker push of ``image``: the same credentials the checks use, or None
        (then the docker SDK uses the docker config's entry for that host, if any)."""
        registry, _ = self.for_image(image)
        return registry.credentials.docker_auth() if registry.credentials else None

    @classmethod
    def of(cls, settings: Settings, overwrite_tag: bool = False) -> Registries:
        """The registries of a project: credentials for `tars.registry`'s host, confirmed tags remembered."""
        return cls(home=settings.registry, overwrite_tag=overwrite_tag,
                   memory=TagMemory(TagMemory.file_of(settings.dist_path), settings.root))

    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        """Whether image:tag exists. Given the ``fingerprint`` the image must carry, a tag holding an image
        with another (or no) fingerprint raises TagConflict, or answers False with ``overwrite_tag``; a tag
        the registry showed with that fingerprint before is not asked again (``memory``)."""
        registry, repository = self.for_image(image)
        if fingerprint is not None and self.memory.confirmed(registry.host, repository, tag, fingerprint):
            return True
        if not registry.has_tag(repository, tag):
            self.memory.forget(registry.host, repository, tag)
            return False
        if fingerprint is None:
            return True
        found = registry.image_label(repository, tag)
        if found == fingerprint:
            self.memory.remember(registry.host, repository, tag, fingerprint)
            return True
        if self.overwrite_tag:
            return False
        raise TagConflict(tag_conflict_message(f"{image}:{tag}", "the registry", found, fingerprint))


    def pushed(self, image: str, tag: str, fingerprint: str) -> None:
        """image:tag was pushed with ``fingerprint`` and the registry lists it."""
        registry, repository = self.for_image(image)
        self.memory.remember(registry.host, repository, tag, fingerprint)

    def push_failed(self, image: str, tag: str) -> None:
        """A push of image:tag failed: whatever was remembered of it is asked again next time."""
        registry, repository = self.for_image(image)
        self.memory.forget(registry.host, repository, tag)

    def pull_failed(self, ref: str) -> None:
        """The cluster could not pull ``ref`` (image:tag): the tag may have gone from the registry (deleted by
        hand, a registry wiped), so whatever was remembered of it is asked again next time."""
        name, tag, _ = split_reference(ref)
        if tag:
            self.push_failed(name, tag)


def tag_conflict_message(ref: str, where: str, found: str | None, wanted: str) -> str:
    held = f"fingerprint {found[:16]}" if found else "no tars-tasks fingerprint"
    return (f"{ref} already exists in {where} with other content ({held}; this build is {wanted[:16]}): "
            "tags are immutable, use a new --tag (or --overwrite-tag to replace it)")
