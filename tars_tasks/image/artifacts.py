"""What each service's release is made of: build spec, fingerprint, image tag and reference."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tars_tasks.core.files import FileLister
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.fingerprint import default_tag, fingerprint
from tars_tasks.image.spec import BuildSpec, build_spec, image_name, sanitize_tag


@dataclass(frozen=True)
class Artifact:
    service: Service
    spec: BuildSpec
    fingerprint: str
    tag: str
    image: str  # repository without tag

    @property
    def ref(self) -> str:
        return f"{self.image}:{self.tag}"


def resolve(settings: Settings, services: Iterable[Service], tag: str | None = None,
            lister: FileLister | None = None) -> dict[str, Artifact]:
    """One Artifact per service; ``tag`` overrides the fingerprint-derived tag (the fingerprint stays)."""
    lister = lister or FileLister(settings.root)
    out = {}
    for service in services:
        spec = build_spec(service, settings)
        fp = fingerprint(settings.root, service.dir, spec, lister)
        out[service.id] = Artifact(service, spec, fp, sanitize_tag(tag) if tag else default_tag(fp),
                                   image_name(service, settings))
    return out
