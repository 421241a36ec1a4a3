"""The `tars:` block of invoke.yaml: defaults, overrides, and checks.

Invoke merges, from lowest to highest priority: the defaults below (via
``Collection.configure``), ``invoke.yaml`` next to ``tasks.py``, a file given
with ``invoke -f FILE``, and ``INVOKE_TARS_*`` environment variables.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tars_tasks.core.errors import UsageError

SERVER_TYPES = ("cpp", "nodejs", "java-war", "java-jar", "go", "php")

DEFAULTS: dict[str, Any] = {
    "root": "",  # project root; empty = the current directory
    "env": "",  # the environment (a name under tars.environments); empty = the base settings
    "services_dir": "services",
    "registry": "127.0.0.1:5000",
    "namespace": "tars",
    "kube_context": "",
    "helm": "",  # empty = `helm` on PATH, else <root>/.tools/bin/helm
    "helm_timeout": "5m0s",
    "helm_read_timeout": "30s",  # helm list/status/get/history: a hung API server fails fast
    "lock_duration": "60s",  # the namespace's release lock (a Lease) expires this long after its last renewal
    "api_version": "k8s.tars.io/v1beta3",
    # a string so that INVOKE_TARS_JOBS=x reaches our check (invoke casts env vars to the default's type)
    "jobs": "4",
    "dist_dir": "dist",
    "log_dir": "dist/logs",
    "image_secret": "",
    "crds_dir": "",  # TarsCloud CRD JSON schemas for the conformance check; empty = the ones shipped in the package
    "chart_dir": "",  # the chart services are packaged from; empty = the one shipped in the package
    "values_schema": "",  # the values.yaml JSON Schema; empty = the one shipped in the package
    "max_values_bytes": str(8 << 20),  # a values.yaml larger than this is refused (a string: see jobs)
    # docker engines to build on, a list or a comma-separated string; empty = DOCKER_HOST / the local socket
    "builders": "",
    "builder": "auto",  # auto (BuildKit where the engine has it, else classic) | buildkit | classic
    "drift": "keep",  # keep: a person's edits in the cluster (scale, release switch) are reported and kept | repair
    "builder_jobs": "0",  # builds at a time per engine; 0 = the run's jobs spread over the live engines
    "base_images": {
        "cpp": "tarscloud/tars.cppbase:v1beta3",
        "nodejs": "tarscloud/tars.nodejsbase:v1beta3",
        "java-war": "tarscloud/tars.javabase:v1beta3",
        "java-jar": "tarscloud/tars.javabase:v1beta3",
        "go": "tarscloud/tars.gobase:v1beta3",
        "php": "tarscloud/tars.php74base:v1beta3",
    },
}

API_VERSIONS = ("k8s.tars.io/v1beta3", "k8s.tars.io/v1beta2")
# What the invoke collection declares as defaults: scalars only, so that any value a user writes merges
# cleanly in invoke (a dict default against a scalar is a traceback inside invoke) and reaches our checks.
# INVOKE_TARS_<KEY> environment variables work for these keys.
COLLECTION_DEFAULTS = {k: v for k, v in DEFAULTS.items() if not isinstance(v, dict)}


def parse_jobs(value: Any, name: str) -> int:
    """A worker count from a setting or a flag: a whole number, at least 1."""
    try:
        jobs = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: {value!r} is not an integer") from None
    if jobs < 1:
        raise UsageError(f"{name}: {value!r} must be at least 1")
    return jobs


# Go's time.ParseDuration, as helm reads --timeout, without a sign: 5m0s, 90s, 1h30m, 1.5h
_DURATION = re.compile(r"^((\d+(\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h))+$")
DURATION_SETTINGS = ("helm_timeout", "helm_read_timeout", "lock_duration")
# a Kubernetes namespace: an RFC 1123 label
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def check_setting(key: str, value: str) -> str:
    """A string setting that would reach helm, docker or a registry broken is a usage error naming it."""
    if key in DURATION_SETTINGS and not _DURATION.match(value):
        raise UsageError(f"tars.{key}: {value!r} is not a duration (e.g. 5m0s, 90s, 1h)")
    if key == "namespace" and not _NAMESPACE.match(value):
        what = "must not be empty" if not value else f"{value!r} is not a Kubernetes namespace name"
        raise UsageError(f"tars.namespace: {what} (lowercase letters, digits and '-', at most 63)")
    if key == "registry" and (not value or "://" in value or value != value.strip() or " " in value):
        what = "must not be empty" if not value else f"{value!r} is not a registry host"
        raise UsageError(f"tars.registry: {what} (host[:port][/path], e.g. 127.0.0.1:5000)")
    if key == "drift" and value not in DRIFT_MODES:
        raise UsageError(f"tars.drift: {value!r} is not one of {', '.join(DRIFT_MODES)}")
    if key == "builder" and value not in BUILDER_MODES:
        raise UsageError(f"tars.builder: {value!r} is not one of {', '.join(BUILDER_MODES)}")
    if key == "services_dir" and not value.strip():
        raise UsageError("tars.services_dir: must not be empty")
    return value


BUILDER_MODES = ("auto", "buildkit", "classic")
DRIFT_MODES = ("keep", "repair")
ENGINE_SCHEMES = ("unix://", "tcp://", "ssh://")


def _userinfo_password(address: str) -> tuple[str, bool]:
    """``address`` with any password of its `user:password@` part masked, and whether it had one."""
    scheme, sep, rest = address.partition("://")
    authority = rest.split("/", 1)[0]
    if not sep or "@" not in authority or ":" not in authority.rsplit("@", 1)[0]:
        return address, False
    user = authority.rsplit("@", 1)[0].split(":", 1)[0]
    return f"{scheme}://{user}:***@{rest[len(authority.rsplit('@', 1)[0]) + 1:]}", True


def parse_builders(value: Any) -> tuple[str, ...]:
    """`tars.builders`: docker engine addresses as the docker SDK takes them, from a YAML list or a
    comma-separated string (INVOKE_TARS_BUILDERS); each one is checked and a bad one named by position."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = [part.strip() for part in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise UsageError(f"tars.builders: expected a list of engine addresses, got {value!r}")
    out: list[str] = []
    for index, item in enumerate(items):
        where = f"tars.builders[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise UsageError(f"{where}: expected an engine address (unix:///PATH, tcp://HOST:PORT, "
                             f"ssh://[USER@]HOST), got {item!r}")
        address = item.strip()
        shown, has_password = _userinfo_password(address)
        if has_password:  # it would end up in logs and errors: engines authenticate by ssh key or TLS certificate
            raise UsageError(f"{where}: {shown!r}: an engine address must not hold a password (ssh://USER@HOST with "
                             "an ssh key, or tcp:// with TLS certificates)")
        scheme = next((s for s in ENGINE_SCHEMES if address.startswith(s)), None)
        rest = address[len(scheme):] if scheme else ""
        if scheme is None or not rest or any(c.isspace() for c in rest) or (scheme == "unix://" and
                                                                           not rest.startswith("/")):
            raise UsageError(f"{where}: {address!r} is not an engine address "
                             "(unix:///PATH, tcp://HOST:PORT, ssh://[USER@]HOST)")
        if address in out:
            raise UsageError(f"{where}: {address!r} is listed twice")
        out.append(address)
    return tuple(out)


def parse_builder_jobs(value: Any) -> int:
    """`tars.builder_jobs`: builds at a time per engine; 0 (or empty) = the run's jobs over the engines."""
    return 0 if str(value).strip() in ("", "0") else parse_jobs(value, "tars.builder_jobs")


# settings that are not strings, and how each is read from what the config holds
_PARSED: dict[str, Any] = {
    "jobs": lambda v: parse_jobs(v, "tars.jobs"),
    "max_values_bytes": lambda v: parse_jobs(v, "tars.max_values_bytes"),  # a whole number, at least 1
    "builders": parse_builders,
    "builder_jobs": parse_builder_jobs,
}

ENV_NAME = re.compile(r"^[a-z0-9]([-_a-z0-9]{0,30}[a-z0-9])?$")


def select_environment(data: dict[str, Any]) -> dict[str, Any]:
    """The `tars:` block with the chosen environment's settings laid over the base ones.

    `environments` becomes the sorted list of names; an unknown `env` is a usage error listing the known ones.
    An environment may set any setting but `env`, `environments` and `root`; its `base_images` merge over the
    base block's."""
    envs = data.get("environments")
    if envs is None:
        envs = {}
    if not isinstance(envs, dict):
        raise UsageError(f"tars.environments: expected a mapping of environment name to settings, got {envs!r}")
    for name, block in envs.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise UsageError(f"tars.environments: {name!r} is not an environment name "
                             "(lowercase letters, digits, '-' and '_', at most 32)")
        if block is not None and not isinstance(block, dict):
            raise UsageError(f"tars.environments.{name}: expected a mapping of settings, got {block!r}")
        bad = sorted({"env", "environments", "root"} & set(block or {}))
        if bad:
            raise UsageError(f"tars.environments.{name}: {', '.join(bad)} cannot be set per environment")
    env = data.get("env") or ""
    out = {k: v for k, v in data.items() if k != "environments"}
    out["environments"] = sorted(envs)
    out["env"] = str(env)
    if not env:
        return out
    if env not in envs:
        known = ", ".join(sorted(envs)) or "none: define them under tars.environments in invoke.yaml"
        raise UsageError(f"unknown environment {env!r} (known: {known})")
    for key, value in (envs[env] or {}).items():
        if key == "base_images" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def check_config_file(path: Path) -> str | None:
    """A located message when a project config file would crash invoke's own loading, else None."""
    import yaml

    from tars_tasks.core.yamlfile import syntax_error

    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line, col, message = syntax_error(exc, text)
        return f"{path.name}:{line}:{col}: {message}"
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        return f"{path.name}:1:1: cannot read: {exc}"
    if data is not None and not isinstance(data, dict):
        return f"{path.name}:1:1: top level must be a mapping"
    tars = (data or {}).get("tars")
    if tars is not None and not isinstance(tars, dict):
        return f"{path.name}: tars: expected a mapping of settings, got {type(tars).__name__}"
    return None


@dataclass(frozen=True)
class Settings:
    root: Path = field(default_factory=Path.cwd)
    services_dir: str = DEFAULTS["services_dir"]
    registry: str = DEFAULTS["registry"]
    namespace: str = DEFAULTS["namespace"]
    kube_context: str = DEFAULTS["kube_context"]
    helm: str = DEFAULTS["helm"]
    helm_timeout: str = DEFAULTS["helm_timeout"]
    helm_read_timeout: str = DEFAULTS["helm_read_timeout"]
    lock_duration: str = DEFAULTS["lock_duration"]
    api_version: str = DEFAULTS["api_version"]
    jobs: int = 4
    dist_dir: str = DEFAULTS["dist_dir"]
    log_dir: str = DEFAULTS["log_dir"]
    image_secret: str = DEFAULTS["image_secret"]
    crds_dir: str = DEFAULTS["crds_dir"]
    chart_dir: str = DEFAULTS["chart_dir"]
    values_schema: str = DEFAULTS["values_schema"]
    max_values_bytes: int = 8 << 20
    builders: tuple[str, ...] = ()
    builder: str = DEFAULTS["builder"]
    drift: str = DEFAULTS["drift"]
    builder_jobs: int = 0
    base_images: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULTS["base_images"]))
    env: str = ""  # the active environment; "" = the base settings
    environments: tuple[str, ...] = ()  # every environment invoke.yaml defines, sorted

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Settings:
        """Build settings from the merged `tars:` config block; unknown keys are a usage error. With `env` set,
        that environment's block (`tars.environments.<env>`) overrides the base settings."""
        data = select_environment(dict(data or {}))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"tars: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        values["environments"] = tuple(data.pop("environments"))
        for key, value in data.items():
            if key == "root":
                values["root"] = Path(value).resolve() if value else Path.cwd()
            elif key in _PARSED:
                values[key] = _PARSED[key](value)
            elif key == "base_images":
                if value is not None and not isinstance(value, dict):
                    raise UsageError(f"tars.base_images: expected a mapping of server type to image, got {value!r}")
                merged = dict(DEFAULTS["base_images"])
                merged.update({str(k): str(v) for k, v in (value or {}).items()})
                bad = sorted(set(merged) - set(SERVER_TYPES))
                if bad:
                    raise UsageError(f"tars.base_images: unknown server type(s) {', '.join(bad)}")
                values["base_images"] = merged
            elif key == "api_version":
                if value not in API_VERSIONS:
                    raise UsageError(f"tars.api_version: {value!r} is not one of {', '.join(API_VERSIONS)}")
                values[key] = value
            elif isinstance(value, (dict, list)):
                raise UsageError(f"tars.{key}: expected a single value, got {value!r}")
            else:
                values[key] = check_setting(key, "" if value is None else str(value))
        return cls(**values)

    @property
    def services_path(self) -> Path:
        return self.root / self.services_dir

    @property
    def dist_path(self) -> Path:
        return self.root / self.dist_dir

    @property
    def log_path(self) -> Path:
        return self.root / self.log_dir

    def helm_binary(self) -> str:
        """The helm to run: the configured one, else helm on PATH, else the one setup installed."""
        if self.helm:
            return self.helm
        found = shutil.which("helm")
        if found:
            return found
        for local in (self.root / ".tools" / "bin" / "helm", user_helm_path()):
            if local.is_file() and os.access(local, os.X_OK):
                return str(local)
        raise UsageError("helm not found: put it on PATH, set tars.helm, or run `python -m tars_tasks.install_helm`")

    def path(self, value: str) -> Path | None:
        """A configured path setting (relative to the project root), or None when it is not set."""
        return (self.root / value) if value else None


def user_helm_path() -> Path:
    """Where `python -m tars_tasks.install_helm` puts helm by default: one per user, for every monorepo."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tars-tasks" / "bin" / "helm"
