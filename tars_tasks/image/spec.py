"""The `build` section of values.yaml with every default filled in, and the image a service is pushed to."""
from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tars_tasks.core.errors import Problem
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings

TYPE_BY_TEMPLATE = {"tars.cpp": "cpp", "tars.nodejs": "nodejs", "tars.java": "java-jar", "tars.php": "php",
                    "tars.go": "go"}
# Where the platform's launcher expects the program, and the ServerType it reads.
_TAG_BAD = re.compile(r"[^a-z0-9.-]+")
_ID_BAD = re.compile(r"[^0-9A-Za-z._-]+")


@dataclass(frozen=True)
class BuildSpec:
    type: str
    base_image: str
    files: tuple[str, ...]  # relative to the service folder; "." = the whole folder
    command: tuple[str, ...] = ()
    dockerfile: str = ""  # the service's own Dockerfile, relative to its folder
    args: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    inputs: tuple[str, ...] = ()  # repo-relative paths the image depends on

    def to_json(self) -> dict:
        return {"type": self.type, "baseImage": self.base_image, "files": list(self.files),
                "command": list(self.command), "dockerfile": self.dockerfile, "args": dict(self.args),
                "inputs": list(self.inputs)}


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
    )


def image_name(service: Service, settings: Settings) -> str:
    """repo.image when given, else <registry>/<app>/<server> in lower case (no tag)."""
    repo = service.values.get("repo") or {}
    if repo.get("image"):
        return repo["image"]
    return f"{settings.registry}/{service.app.lower()}/{service.server.lower()}"


def sanitize_tag(tag: str) -> str:
    """A docker tag the platform accepts: lower case, no '_', '+', '/' (max 128 characters)."""
    clean = _TAG_BAD.sub("-", tag.lower()).strip("-.")
    return clean[:128] or "latest"


def release_id(tag: str) -> str:
    """TServer release.id from an image tag: ^([0-9A-Za-z][-_.0-9A-Za-z]*)?[0-9A-Za-z]$, at most 63 characters."""
    clean = _ID_BAD.sub("-", tag)[:63].strip("-_.")
    return clean or "release"


def build_problems(service: Service, settings: Settings) -> Iterator[Problem]:
    """Build rules that need the filesystem: a server type, and declared files and inputs that exist."""
    build = service.values.get("build")
    build = build if isinstance(build, dict) else {}
    if "type" not in build and service.template and service.template not in TYPE_BY_TEMPLATE:
        yield service.problem(["build"] if "build" in service.values else [],
                              f"build.type is needed: template {service.template!r} does not tell the server type "
                              f"(one of {', '.join(sorted(settings.base_images))})")
    elif "type" not in build and service.values.get("subtype") == "normal" and not service.template:
        yield service.problem(["build"] if "build" in service.values else [],
                              "build.type is needed for a subtype normal service without a template")
    files = build.get("files")
    if isinstance(files, list):
        for i, entry in enumerate(files):
            if isinstance(entry, str) and entry and inside_folder(entry) is None:
                yield service.problem(["build", "files", i], f"{entry!r} is outside {service.dir.name}/ (paths are "
                                                             "relative to the service folder; shared files are "
                                                             "build.inputs)")
    dockerfile = build.get("dockerfile")
    if isinstance(dockerfile, str) and dockerfile and not (service.dir / dockerfile).is_file():
        yield service.problem(["build", "dockerfile"], f"{dockerfile!r} does not exist in {service.dir.name}/")
    inputs = build.get("inputs")
    if isinstance(inputs, list):
        for i, rel in enumerate(inputs):
            if isinstance(rel, str) and not (settings.root / rel).exists():
                yield service.problem(["build", "inputs", i], f"{rel!r} does not exist (paths are relative to the "
                                                              "repository root)")
