"""The `build` section of values.yaml with every default filled in, and the image a service is pushed to."""
from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tars_tasks.core.credentials import is_credential
from tars_tasks.core.errors import Problem
from tars_tasks.core.files import (
    DockerIgnore,
    FileLister,
    escaping_input_files,
    escaping_service_files,
    inner_path,
    resolves_inside,
)
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings

TYPE_BY_TEMPLATE = {"tars.cpp": "cpp", "tars.nodejs": "nodejs", "tars.java": "java-jar", "tars.php": "php",
                    "tars.go": "go"}
# Where the platform's launcher expects the program, and the ServerType it reads.
_TAG_BAD = re.compile(r"[^a-z0-9.-]+")
_ID_BAD = re.compile(r"[^0-9A-Za-z._-]+")
SECRET_NAME = re.compile(r"(?i)token|passw|secret|key|credential|auth")
DEFAULT_BUILD_TIMEOUT = 1800.0  # build.timeout: 30 minutes
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class BuildSpec:
    type: str
    base_image: str
    files: tuple[str, ...]  # relative to the service folder; "." = the whole folder
    command: tuple[str, ...] = ()
    dockerfile: str = ""  # the service's own Dockerfile, relative to its folder
    args: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    inputs: tuple[str, ...] = ()  # repo-relative paths the image depends on
    env: tuple[str, ...] = ()  # environment variables the compile step may see (besides PATH, HOME, LANG)
    secrets: tuple[str, ...] = ()  # environment variables given to the compile step as files only
    timeout: float = DEFAULT_BUILD_TIMEOUT  # seconds the whole build may take: compile, image build, push

    def to_json(self) -> dict:
        """What the image is made from (hashed into the fingerprint). env and secrets names count (they can
        change what the compile step makes); the timeout does not. Empty ones are left out, so adding these
        keys to the tool changed no existing fingerprint."""
        out = {"type": self.type, "baseImage": self.base_image, "files": list(self.files),
               "command": list(self.command), "dockerfile": self.dockerfile, "args": dict(self.args),
               "inputs": list(self.inputs)}
        if self.env:
            out["env"] = list(self.env)
        if self.secrets:
            out["secrets"] = list(self.secrets)
        return out


def inside_folder(entry: str) -> str | None:
    """A path of build.files or build.dockerfile as a normalised path inside the service folder ("." for
    the folder itself), or None when it leads outside (shared files are build.inputs)."""
    inner = posixpath.normpath(entry.replace("\\", "/"))
    if inner.startswith("/") or inner == ".." or inner.startswith("../"):
        return None
    return inner


def server_type(service: Service) -> str:
    build = service.values.get("build") or {}
    return build.get("type") or TYPE_BY_TEMPLATE.get(service.template, "")


def build_spec(service: Service, settings: Settings) -> BuildSpec:
    build = service.values.get("build") or {}
    kind = server_type(service)
    return BuildSpec(
        type=kind,
        base_image=build.get("baseImage") or settings.base_images.get(kind, ""),
        files=tuple(build.get("files") or (".",)),
        command=tuple(str(x) for x in build.get("command") or ()),
        dockerfile=build.get("dockerfile") or "",
        args=tuple(sorted((str(k), str(v)) for k, v in (build.get("args") or {}).items())),
        inputs=tuple(build.get("inputs") or ()),
        env=tuple(sorted({str(x) for x in build.get("env") or ()})),
        secrets=tuple(sorted({str(x) for x in build.get("secrets") or ()})),
        timeout=parse_timeout(build.get("timeout")) or DEFAULT_BUILD_TIMEOUT,
    )


def parse_timeout(value: object) -> float | None:
    """build.timeout in seconds: a whole number of seconds, or a duration such as `90s`, `10m`, `1h30m`.
    None when it is missing or not one of those (the schema reports the latter)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    match = _DURATION.match(str(value).strip())
    if not match or not any(match.groups()):
        return None
    hours, minutes, secs = (int(x or 0) for x in match.groups())
    total = hours * 3600 + minutes * 60 + secs
    return float(total) if total > 0 else None


def split_reference(ref: str) -> tuple[str, str, str]:
    """'reg:5000/a/b:1.0@sha256:…' -> ('reg:5000/a/b', '1.0', 'sha256:…'); missing parts are ''."""
    name, _, digest = ref.partition("@")
    head, _, last = name.rpartition("/")
    last, _, tag = last.partition(":")  # a ':' before the last '/' is the registry's port
    return (f"{head}/{last}" if head else last), tag, digest


def pinned_image(service: Service) -> str:
    """repo.image when it carries a tag or digest: that exact image is deployed, never built ('' otherwise)."""
    repo = service.values.get("repo")
    image = repo.get("image") if isinstance(repo, dict) else None
    if not isinstance(image, str) or not image:
        return ""
    _, tag, digest = split_reference(image)
    return image if tag or digest else ""


def pinned_tag(ref: str) -> str:
    """The tag a pinned image is known by: its tag, else its digest ('sha256-…'), sanitised."""
    _, tag, digest = split_reference(ref)
    return sanitize_tag(tag or digest.replace(":", "-"))


def image_name(service: Service, settings: Settings) -> str:
    """repo.image (without a pinned tag or digest) when given, else <registry>/<app>/<server> in lower case."""
    repo = service.values.get("repo")
    image = repo.get("image") if isinstance(repo, dict) else None
    if isinstance(image, str) and image:
        return split_reference(image)[0]
    return f"{settings.registry}/{service.app.lower()}/{service.server.lower()}"


def sanitize_tag(tag: str) -> str:
    """A docker tag the platform accepts: lower case, no '_', '+', '/' (max 128 characters)."""
    clean = _TAG_BAD.sub("-", tag.lower()).strip("-.")
    return clean[:128] or "latest"


def release_id(tag: str) -> str:
    """TServer release.id from an image tag: ^([0-9A-Za-z][-_.0-9A-Za-z]*)?[0-9A-Za-z]$, at most 63 characters."""
    clean = _ID_BAD.sub("-", tag)[:63].strip("-_.")
    return clean or "release"


def build_problems(service: Service, settings: Settings, lister: FileLister | None = None) -> Iterator[Problem]:
    """Build rules that need the filesystem: a server type; files, dockerfile and inputs that exist and
    resolve, after symlinks, inside the service folder (files, dockerfile) or the repository (inputs).
    ``lister``: one listing of the repository shared by every service (made when not given)."""
    build = service.values.get("build")
    build = build if isinstance(build, dict) else {}
    if "type" not in build and service.template and service.template not in TYPE_BY_TEMPLATE:
        yield service.problem(["build"] if "build" in service.values else [],
                              f"build.type is needed: template {service.template!r} does not tell the server type "
                              f"(one of {', '.join(sorted(settings.base_images))})")
    elif "type" not in build and service.values.get("subtype") == "normal" and not service.template:
        yield service.problem(["build"] if "build" in service.values else [],
                              "build.type is needed for a subtype normal service without a template")
    yield from _secret_problems(service, build)
    lister = lister or FileLister(settings.root)
    yield from _files_problems(service, build.get("files"), lister)
    yield from _dockerfile_problems(service, build.get("dockerfile"))
    yield from _inputs_problems(service, build.get("inputs"), settings.root, lister)


def _secret_problems(service: Service, build: dict) -> Iterator[Problem]:
    """build.args are kept in the image (`docker history` shows them): warn when a name looks secret.
    build.env and build.secrets never pass a credential or key of this tool (core/credentials.py); any other
    secret-looking name in build.env is better a build.secrets."""
    args = build.get("args")
    for name in args if isinstance(args, dict) else {}:
        if isinstance(name, str) and SECRET_NAME.search(name):
            yield service.problem(["build", "args", name], f"{name!r} looks like a secret: build args are kept in "
                                                           "the image (docker history shows them); give it to the "
                                                           "compile step with build.secrets instead", key=True,
                                  warning=True)
    for key in ("env", "secrets"):
        names = build.get(key)
        for i, name in enumerate(names if isinstance(names, list) else []):
            if isinstance(name, str) and is_credential(name):
                yield service.problem(["build", key, i], f"{name} holds a credential or key of this tool itself: "
                                                         "the compile step never gets it (see docs/security.md)")
    env = build.get("env")
    for i, name in enumerate(env if isinstance(env, list) else []):
        if isinstance(name, str) and is_credential(name):
            continue
        if isinstance(name, str) and SECRET_NAME.search(name):
            yield service.problem(["build", "env", i], f"{name!r} looks like a secret: build.secrets gives it as "
                                                       "a file and redacts its value from every output",
                                  warning=True)


def _folder_name(service: Service) -> str:
    return f"{service.dir.name}/"


def _files_problems(service: Service, files: object, lister: FileLister) -> Iterator[Problem]:
    """Every build.files entry names a path inside the service folder, after symlinks; no file of the
    service is a symlink to outside it."""
    folder = _folder_name(service)
    entries = files if isinstance(files, list) else ["."]
    for i, entry in enumerate(entries if isinstance(files, list) else []):
        if not isinstance(entry, str) or not entry:
            continue
        inner = inside_folder(entry)
        if inner is None:
            yield service.problem(["build", "files", i], f"{entry!r} is outside {folder} (paths are relative to "
                                                         "the service folder; shared files are build.inputs)")
        elif os.path.lexists(service.dir / inner) and not resolves_inside(service.dir / inner, service.dir):
            yield service.problem(["build", "files", i], f"{entry!r} resolves outside {folder} through a symlink "
                                                         "(only files inside the service folder go into its image)")
    service_rel = os.path.relpath(service.dir, lister.root).replace(os.sep, "/")
    if service_rel == ".." or service_rel.startswith("../"):
        return
    named = {inside_folder(e) for e in entries if isinstance(e, str) and e}  # reported above when they escape
    for rel in escaping_service_files(lister, service_rel, DockerIgnore.of(service.dir)):
        inner = inner_path(service_rel, rel)
        if inner in named:
            continue
        at = next((["build", "files", i] for i, e in enumerate(entries)
                   if isinstance(e, str) and _covers(inside_folder(e), inner)), None)
        where = at if isinstance(files, list) and at else (["build"] if "build" in service.values else [])
        yield service.problem(where, f"{inner!r} in {folder} is a symlink that resolves outside {folder}: "
                                     "left out of the image and its tag; remove it or make it a file")


def _covers(entry: str | None, inner: str) -> bool:
    return entry is not None and (entry == "." or inner == entry or inner.startswith(entry + "/"))


def _dockerfile_problems(service: Service, dockerfile: object) -> Iterator[Problem]:
    if not isinstance(dockerfile, str) or not dockerfile:
        return
    folder = _folder_name(service)
    inner = inside_folder(dockerfile)
    if inner is None:
        yield service.problem(["build", "dockerfile"], f"{dockerfile!r} is outside {folder} (paths are relative "
                                                       "to the service folder)")
    elif os.path.lexists(service.dir / inner) and not resolves_inside(service.dir / inner, service.dir):
        yield service.problem(["build", "dockerfile"], f"{dockerfile!r} resolves outside {folder} through a "
                                                       "symlink")
    elif not (service.dir / inner).is_file():
        yield service.problem(["build", "dockerfile"], f"{dockerfile!r} does not exist in {folder}")


def _inputs_problems(service: Service, inputs: object, root: Path, lister: FileLister) -> Iterator[Problem]:
    """Every build.inputs path is relative, inside the repository after symlinks, exists, is not git's own
    folder, holds at least one file git tracks or would track (the files that reach the image: core/files.py),
    and holds no symlink to outside the repository."""
    if not isinstance(inputs, list):
        return
    for i, rel in enumerate(inputs):
        if not isinstance(rel, str) or not rel:
            continue
        clean = posixpath.normpath(rel.replace("\\", "/"))
        if clean.startswith("/") or clean == ".." or clean.startswith("../"):
            yield service.problem(["build", "inputs", i], f"{rel!r} is outside the repository (paths are relative "
                                                          "to the repository root)")
        elif os.path.lexists(root / clean) and not resolves_inside(root / clean, root):
            yield service.problem(["build", "inputs", i], f"{rel!r} resolves outside the repository through a "
                                                          "symlink")
        elif clean == ".git" or clean.startswith(".git/"):
            yield service.problem(["build", "inputs", i], f"{rel!r} is git's own folder, never an input: name the "
                                                          "files the build needs")
        elif not (root / clean).exists():
            yield service.problem(["build", "inputs", i], f"{rel!r} does not exist (paths are relative to the "
                                                          "repository root)")
        elif not lister.under(clean):
            yield service.problem(["build", "inputs", i], f"{rel!r} holds no file git tracks or would track (it is "
                                                          "ignored, or empty): the build would not find it")
        else:
            for bad in escaping_input_files(lister, clean):
                yield service.problem(["build", "inputs", i], f"{bad!r} is a symlink that resolves outside the "
                                                              "repository: left out of the image and its tag")
