"""What each service's release is made of: build spec, fingerprint, image tag and reference.

A pinned service (repo.image with a tag or digest) is not built: its reference is deployed exactly as given,
whatever --tag says; its tag (or digest) names the release.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tars_tasks.core.files import FEW_SERVICES, FileLister
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.image.fingerprint import default_tag, fingerprint
from tars_tasks.image.spec import (
    BuildSpec,
    build_spec,
    image_name,
    pinned_image,
    pinned_tag,
    sanitize_tag,
    split_reference,
)


@dataclass(frozen=True)
class Artifact:
    service: Service
    spec: BuildSpec
    fingerprint: str
    tag: str
    image: str  # repository without tag
    pinned: str = ""  # repo.image with a tag or digest: deployed as given, never built

    @property
    def ref(self) -> str:
        return self.pinned or f"{self.image}:{self.tag}"

    @property
    def reference(self) -> str:
        """What the registry is asked for: the pinned digest (else tag), or the tag this tool builds."""
        if not self.pinned:
            return self.tag
        _, tag, digest = split_reference(self.pinned)
        return digest or tag


def resolve(settings: Settings, services: Iterable[Service], tag: str | None = None,
            lister: FileLister | None = None) -> dict[str, Artifact]:
    """One Artifact per service; ``tag`` overrides the fingerprint-derived tag (the fingerprint stays) of every
    service that is built; a pinned one keeps its own."""
    services = list(services)
    lister = lister or FileLister(settings.root, few=len(services) <= FEW_SERVICES)
    out = {}
    for service in services:
        spec = build_spec(service, settings)
        fp = fingerprint(settings.root, service.dir, spec, lister)
        pinned = pinned_image(service)
        chosen = pinned_tag(pinned) if pinned else sanitize_tag(tag) if tag else default_tag(fp)
        out[service.id] = Artifact(service, spec, fp, chosen, image_name(service, settings), pinned)
    return out
