"""Assemble and package one chart per service from helm-template/, reproducibly and without touching it.

The chart is built in memory: helm-template's files (read once), a Chart.yaml with the service's name and
a version derived from the release, and the service's values with the release filled in. The tgz is written
with fixed mtimes, owners, modes and order, so the same inputs give the same bytes; it is written to a
temporary file and renamed, so packaging several charts (or the same chart) at once is safe.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import yaml

from tars_tasks.chart.config_names import config_names
from tars_tasks.core import assets, fsio
from tars_tasks.core.errors import UsageError
from tars_tasks.core.secrets import values_document
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.core.tarball import Tarball
from tars_tasks.image.spec import image_name, pinned_image, release_id, sanitize_tag, server_type, split_reference

FIXED_MTIME = 315532800  # 1980-01-01, as reproducible-build tools use
OUR_KEYS = ("build", "dependsOn")  # values.yaml keys for tars-tasks, not for the chart
# who and why of a release: passed at deploy time (deploy/records.py), never part of the chart or its version
RECORD_KEYS = ("user", "reason")
SEMVER_TAG = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")


@dataclass(frozen=True)
class ChartTemplate:
    """helm-template/ read once: every file but Chart.yaml and values.yaml, and its own metadata."""

    files: tuple[tuple[str, bytes], ...]
    meta: dict
    digest: str


@lru_cache(maxsize=4)
def load_template(path: str = "", stamp: tuple[tuple[str, int, int], ...] = ()) -> ChartTemplate:
    """The chart at ``path`` (tars.chart_dir), or the one shipped in the package. ``stamp`` (see chart_stamp)
    is part of the cache key only: an edited chart is read again, an unchanged one is read once."""
    folder = Path(path) if path else assets.chart_dir()
    if not folder.joinpath("Chart.yaml").is_file():
        raise UsageError(f"tars.chart_dir: {path} has no Chart.yaml")
    files = [(rel, entry.read_bytes()) for rel, entry in assets.walk(folder)
             if rel not in ("Chart.yaml", "values.yaml")]
    meta = yaml.safe_load(folder.joinpath("Chart.yaml").read_text(encoding="utf-8"))
    digest = hashlib.sha256()
    for rel, data in files:
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    digest.update(repr(sorted(meta.items())).encode())
    return ChartTemplate(tuple(files), meta, digest.hexdigest())


def chart_stamp(folder: Path | Traversable) -> tuple[tuple[str, int, int], ...]:
    """Each file of a chart folder on disk as (path, size, mtime in ns): one stat per file, no read. A process
    that plans again after the chart was edited (a library caller) gets the new chart and its new versions."""
    if not isinstance(folder, Path) or not folder.is_dir():  # a chart inside a zip never changes
        return ()
    stamp = []
    for top, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(top, name)
            try:
                st = os.stat(path)
            except OSError:  # a dangling link: load_template says what is wrong with it
                continue
            stamp.append((path, st.st_size, st.st_mtime_ns))
    return tuple(stamp)


def template_for(settings: Settings) -> ChartTemplate:
    """The chart of this project: tars.chart_dir when set, else the shipped one."""
    custom = settings.path(settings.chart_dir)
    return load_template(str(custom) if custom else "", chart_stamp(custom or assets.chart_dir()))


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    app_version: str
    image: str  # full ref with tag
    release_id: str
    values: bytes
    chart_yaml: bytes
    template: ChartTemplate

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}.tgz"


def without_nulls(value: Any) -> Any:
    """``value`` with every null mapping entry dropped: a null optional field is "not set" (as upstream)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def env_as_written(service: Service, env: list) -> list:
    """``envVars`` with each number sent as written (docs/configs.md): YAML reads ``00123`` as 83, ``1.50`` as 1.5
    and a long integer as a float's digits, but the server gets the text of values.yaml; booleans go as
    "true"/"false" (the chart's toString)."""
    out = []
    for i, item in enumerate(env):
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = service.written(["envVars", i, "value"])
            if text is not None and yaml.safe_load(text) == value:  # the node that supplied this value
                item = {**item, "value": text}
        out.append(item)
    return out


def chart_values(service: Service, settings: Settings, tag: str) -> dict:
    """The service's values as the chart reads them: nulls, our keys and the release record's keys dropped,
    the release filled in. A pinned image (repo.image with a tag or digest) is deployed as given, its release
    id is repo.id when set, else its tag; a built image's release id is always its content tag (a repo.id
    left by upstream CI would restart the server on every change of it)."""
    values = {k: v for k, v in without_nulls(service.values).items() if k not in OUR_KEYS + RECORD_KEYS}
    if isinstance(values.get("envVars"), list):
        values["envVars"] = env_as_written(service, values["envVars"])
    repo = dict(values.get("repo") or {})
    pinned = pinned_image(service)
    given_id = repo.get("id")
    if pinned:
        _, own_tag, digest = split_reference(pinned)
        repo["id"] = str(given_id) if given_id else release_id(own_tag or digest.replace(":", "-"))
        repo["image"] = pinned
    else:
        repo["id"] = release_id(tag)
        repo["image"] = f"{image_name(service, settings)}:{tag}"
    secret = repo.get("secret") or settings.image_secret
    if secret:
        repo["secret"] = secret
    else:
        repo.pop("secret", None)
    values["repo"] = repo
    values["tarsTasks"] = {"apiVersion": settings.api_version, "serverType": server_type(service) or "cpp",
                           "service": service.id}
    names = config_names(values, service.secret_hashes)
    if names:  # the TConfig version names (chart/config_names.py): keyed where the content holds secrets
        values["tarsTasks"]["configs"] = names
    return values


def secret_values(service: Service, settings: Settings, tag: str) -> str | None:
    """What helm gets on its stdin besides the chart when ``service`` is deployed with ``tag``: its resolved
    secrets filled into the chart values that reference them (core/secrets.py). None: it uses no secret."""
    return values_document(chart_values(service, settings, sanitize_tag(tag)), service.secrets)


def chart_version(tag: str, digest: str) -> str:
    """Valid SemVer that changes whenever the release (tag, values, chart template) changes."""
    m = SEMVER_TAG.match(tag)
    base = ".".join(m.groups()) if m else "0.0.0"
    return f"{base}-r{digest[:12]}"


def assemble(service: Service, settings: Settings, tag: str, template: ChartTemplate | None = None) -> Chart:
    template = template or template_for(settings)
    tag = sanitize_tag(tag)
    values = chart_values(service, settings, tag)
    # JSON is YAML: helm reads it as values.yaml, and it serialises ~20x faster than PyYAML
    values_bytes = (json.dumps(values, sort_keys=True, indent=2, ensure_ascii=False, default=str) + "\n").encode()
    # a service's secrets change its version by their keyed hash only (core/secrets.py): never by their value
    secret_part = b"\0secrets:" + service.secret_digest.encode() if service.secret_digest else b""
    digest = hashlib.sha256(template.digest.encode() + b"\0" + values_bytes + secret_part).hexdigest()
    meta = dict(template.meta)
    meta.update({"name": service.name, "version": chart_version(tag, digest), "appVersion": tag,
                 "description": f"{service.id} on the TarsCloud K8SFramework (packaged by tars-tasks)"})
    chart_yaml = (json.dumps(meta, sort_keys=True, indent=2) + "\n").encode()
    return Chart(service.name, meta["version"], tag, values["repo"]["image"], values["repo"]["id"], values_bytes,
                 chart_yaml, template)


def tgz_bytes(chart: Chart) -> bytes:
    tarball = Tarball(mtime=FIXED_MTIME)
    for rel, data in [("Chart.yaml", chart.chart_yaml), ("values.yaml", chart.values), *chart.template.files]:
        tarball.add_bytes(f"{chart.name}/{rel}", data)
    return tarball.tgz_bytes(compresslevel=6)


def write_atomic(path: Path, data: bytes, within: Path | None = None) -> None:
    """Temp file + rename in the same folder: concurrent packagers never see half a chart, and a symlink at
    ``path`` is replaced, never followed, one on the way below ``within`` refused (core/fsio.py)."""
    fsio.write_atomic(path, data, within=within)


def package(service: Service, settings: Settings, tag: str, out_dir: Path | None = None) -> tuple[Chart, Path]:
    """Write <out>/<app>-<server>-<version>.tgz (default dist/charts/) and return it with its chart."""
    chart = assemble(service, settings, tag)
    out_dir = fsio.real_folder(out_dir or settings.dist_path / "charts", settings.root)
    path = out_dir / chart.filename
    data = tgz_bytes(chart)
    if not (path.is_file() and path.read_bytes() == data):
        write_atomic(path, data, settings.root)
    return chart, path
