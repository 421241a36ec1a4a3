"""Build and push service images with the docker SDK: registry first, build only what is missing.

For one service: if the registry has `image:tag`, nothing is built. Otherwise the compile step runs (argv,
in the service folder), a build context is assembled in memory (the Dockerfile rendered from our template
for the server type, or the service's own; `files/` and `inputs/`), the engine builds it with the
fingerprint as a label, and the image is pushed when asked. Every line goes to dist/logs/<id>.build.log.

What goes into the build context is decided by the same rule as the tag (`tars_tasks.core.files`), listed
again after the build command ran:

- the service's own Dockerfile (`build.dockerfile`): the context is the files of the service (so never a
  git-ignored or .dockerignored file, nor values.yaml) and the Dockerfile itself;
- our template: `files/` holds what `build.files` names, each relative to the service folder:
  - a file named explicitly goes in whenever it exists, git-ignored or not (a compiled binary is a
    git-ignored build output; its sources and the build command are what the tag is made from);
  - a directory brings the files of the service below it (`.` is the whole folder): a git-ignored or
    .dockerignored file inside it stays out, an untracked file the build command wrote goes in. A directory
    that git ignores as a whole (a build output folder such as `dist/`) goes in with every file on disk,
    minus .dockerignore;
  - a path outside the service folder is an error (shared files are `build.inputs`);
- `inputs/` holds each `build.inputs` path, as listed for the tag.

Entries are written by `tars_tasks.core.tarball` (mode 0644, or 0755 for an executable; mtime 0; sorted),
so the context is a function of what the tag hashes.
"""
from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tars_tasks.core.errors import TarsError
from tars_tasks.core.files import DockerIgnore, FileLister, in_image, inner_path, service_files
from tars_tasks.core.redact import redact_text
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.core.tarball import Tarball
from tars_tasks.image.artifacts import Artifact
from tars_tasks.image.registry import Registries, RegistryError
from tars_tasks.image.spec import inside_folder

if TYPE_CHECKING:  # pragma: no cover
    import docker
    import jinja2

LABEL_FINGERPRINT = "io.tars-tasks.fingerprint"
LABEL_SERVICE = "io.tars-tasks.service"
COMMAND_TIMEOUT = 1800

Progress = Callable[[str, str], None]  # (service id, message)


class BuildError(TarsError):
    pass


@dataclass
class BuildResult:
    service: str
    image: str  # full reference
    status: str  # built | pushed | exists | local | failed
    reason: str = ""
    seconds: float = 0.0
    log: str = ""
    steps: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "image": self.image, "status": self.status, "reason": self.reason,
                "seconds": round(self.seconds, 3), "log": self.log}

    def summary(self) -> str:
        """One line for people: `App.Server: status image in 1.2s (reason when failed)`."""
        detail = f" ({self.reason})" if self.status == "failed" else ""
        return f"{self.service}: {self.status} {self.image} in {self.seconds:.1f}s{detail}"


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    import jinja2  # imported on first use: planning a release that builds nothing does not need it

    return jinja2.Environment(loader=jinja2.PackageLoader("tars_tasks.image", "dockerfiles"),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def render_dockerfile(artifact: Artifact) -> str:
    import jinja2

    spec = artifact.spec
    try:
        template = _jinja().get_template(f"{spec.type}.Dockerfile.j2")
    except jinja2.TemplateNotFound:
        raise BuildError(f"no Dockerfile template for server type {spec.type!r}") from None
    return template.render(service_id=artifact.service.id, server_type=spec.type, base_image=spec.base_image,
                           build_args=[k for k, _ in spec.args], has_inputs=bool(spec.inputs)).rstrip("\n") + "\n"


def build_context(artifact: Artifact, root: Path, lister: FileLister) -> bytes:
    """The build context as a tar (see the module docstring for what goes in)."""
    service, spec = artifact.service, artifact.spec
    service_rel = _service_rel(service, root)
    ignore = DockerIgnore.of(service.dir)
    files = [inner_path(service_rel, rel) for rel in service_files(lister, service_rel, ignore, fresh=True)]
    tar = Tarball(mtime=0)
    if spec.dockerfile:  # the service's own Dockerfile: its folder is the context, as with `docker build .`
        dockerfile = inside_folder(spec.dockerfile)
        if dockerfile is None:
            raise BuildError(f"build.dockerfile: {spec.dockerfile!r} is outside {service.dir.name}/")
        for inner in files:
            tar.add_file(inner, service.dir / inner)
        tar.add_file(dockerfile, service.dir / dockerfile)
        return tar.tar_bytes()
    tar.add_bytes("Dockerfile", render_dockerfile(artifact).encode())
    tar.add_bytes("files/.keep", b"")
    for entry in spec.files:
        for name, source in _named_files(service, service_rel, entry, files, lister, ignore):
            tar.add_file("files/" + name, source)
    for inp in spec.inputs:
        for rel in lister.under(inp):
            tar.add_file("inputs/" + rel, root / rel)
    return tar.tar_bytes()


def _service_rel(service: Service, root: Path) -> str:
    return os.path.relpath(service.dir, root).replace(os.sep, "/")


def _named_files(service: Service, service_rel: str, entry: str, files: list[str], lister: FileLister,
                 ignore: DockerIgnore) -> Iterator[tuple[str, Path]]:
    """(name under files/, source) for one `build.files` entry; ``files`` are the files of the service."""
    inner = inside_folder(entry)
    if inner is None:
        raise BuildError(f"build.files: {entry!r} is outside {service.dir.name}/ (shared files are build.inputs)")
    source = service.dir / inner
    if not source.exists():
        raise BuildError(f"build.files: {entry!r} does not exist in {service.dir.name}/ "
                         "(did the build command make it?)")
    if not source.is_dir():
        yield source.name, source
        return
    if inner != "." and lister.ignored(inner if service_rel in ("", ".") else f"{service_rel}/{inner}"):
        below = [f for f in _walk(source, service.dir) if in_image(f, ignore)]  # a build output folder
    else:
        prefix = "" if inner == "." else inner + "/"
        below = [f for f in files if f.startswith(prefix)]
    for f in below:
        yield f[len(inner) + 1:] if inner != "." else f, service.dir / f


def _walk(folder: Path, service_dir: Path) -> list[str]:
    """Every file below ``folder`` on disk, as paths inside the service folder, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        out += [(Path(dirpath) / name).relative_to(service_dir).as_posix() for name in filenames
                if (Path(dirpath) / name).is_file()]
    return sorted(out)


class ImageBuilder:
    """Ensures each artifact's image exists (in the registry when pushing, else locally)."""

    def __init__(self, settings: Settings, registries: Registries | None = None, progress: Progress | None = None,
                 client_factory: Callable[[], docker.DockerClient] | None = None, lister: FileLister | None = None):
        self.settings = settings
        self.registries = registries or Registries()
        self.progress = progress or (lambda sid, msg: None)
        self.client_factory = client_factory or _default_client
        self.lister = lister or FileLister(settings.root)

    def log_path(self, artifact: Artifact) -> Path:
        return self.settings.log_path / f"{artifact.service.id}.build.log"

    def ensure(self, artifact: Artifact, push: bool) -> BuildResult:
        import docker.errors

        start = time.monotonic()
        result = BuildResult(artifact.service.id, artifact.ref, "failed", log=str(self.log_path(artifact)))
        log_path = self.log_path(artifact)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("w", encoding="utf-8") as log:
            try:
                self._ensure(artifact, push, result, log)
            except (BuildError, RegistryError) as exc:
                result.status, result.reason = "failed", redact_text(str(exc))
                log.write(f"FAILED: {result.reason}\n")
            except docker.errors.DockerException as exc:
                result.status, result.reason = "failed", f"docker: {redact_text(_docker_message(exc))}"
                log.write(f"FAILED: {result.reason}\n")
        result.seconds = time.monotonic() - start
        return result

    def _say(self, artifact: Artifact, log: TextIO, message: str) -> None:
        log.write(message + "\n")
        log.flush()
        self.progress(artifact.service.id, message)

    def _ensure(self, artifact: Artifact, push: bool, result: BuildResult, log: TextIO) -> None:
        try:
            in_registry = self.registries.has(artifact.image, artifact.tag)
        except RegistryError as exc:
            if push:
                raise
            in_registry = False
            self._say(artifact, log, f"registry check skipped: {exc}")
        if in_registry:
            result.status, result.reason = "exists", "image tag already in the registry"
            self._say(artifact, log, f"{artifact.ref} is in the registry: not built")
            return
        client = self.client_factory()
        try:
            local = _local_image(client, artifact.ref)
            if local is not None and local.labels.get(LABEL_FINGERPRINT) == artifact.fingerprint:
                self._say(artifact, log, f"{artifact.ref} exists locally with the same fingerprint: not built")
                result.status, result.reason = "local", "image already built locally"
            else:
                self._compile(artifact, log)
                self._build(client, artifact, log)
                result.status, result.reason = "built", "image tag not in registry"
            if push:
                self._push(client, artifact, log)
                result.status = "pushed"
                if not self.registries.has(artifact.image, artifact.tag):
                    raise BuildError(f"pushed {artifact.ref} but the registry does not list it")
        finally:
            client.close()

    def _compile(self, artifact: Artifact, log: TextIO) -> None:
        argv = list(artifact.spec.command)
        if not argv:
            return
        self._say(artifact, log, f"compile: {' '.join(argv)}")
        try:
            proc = subprocess.run(argv, cwd=artifact.service.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=COMMAND_TIMEOUT)
        except FileNotFoundError:
            raise BuildError(f"build.command: {argv[0]!r} not found") from None
        except subprocess.TimeoutExpired:
            raise BuildError(f"build.command timed out after {COMMAND_TIMEOUT}s") from None
        log.write(proc.stdout)
        if proc.returncode != 0:
            tail = " | ".join(proc.stdout.strip().splitlines()[-3:])
            raise BuildError(f"build.command {' '.join(argv)!r} failed (exit {proc.returncode}): {tail}")

    def _ensure_base_image(self, client: docker.DockerClient, artifact: Artifact, log: TextIO) -> None:
        import docker.errors

        base = artifact.spec.base_image
        if artifact.spec.dockerfile or not base or _local_image(client, base) is not None:
            return
        self._say(artifact, log, f"pull base image {base}")
        try:
            client.images.pull(base)
        except docker.errors.DockerException as exc:
            raise BuildError(f"base image {base!r} is not on this machine and cannot be pulled: "
                             f"{_docker_message(exc)}") from None

    def _build(self, client: docker.DockerClient, artifact: Artifact, log: TextIO) -> None:
        self._ensure_base_image(client, artifact, log)
        context = build_context(artifact, self.settings.root, self.lister)
        self._say(artifact, log, f"build {artifact.ref} (from {artifact.spec.base_image or 'own Dockerfile'})")
        stream = client.api.build(
            fileobj=io.BytesIO(context), custom_context=True, tag=artifact.ref, rm=True, forcerm=True, pull=False,
            dockerfile=artifact.spec.dockerfile or "Dockerfile", decode=True,
            buildargs=dict(artifact.spec.args) or None,
            labels={LABEL_FINGERPRINT: artifact.fingerprint, LABEL_SERVICE: artifact.service.id})
        image_id = None
        for chunk in stream:
            if "stream" in chunk:
                text = chunk["stream"]
                log.write(text)
                line = text.strip()
                if line.startswith("Step "):
                    self.progress(artifact.service.id, line)
            if "aux" in chunk and isinstance(chunk["aux"], dict):
                image_id = chunk["aux"].get("ID", image_id)
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or chunk["errorDetail"].get("message", "")
                log.write(f"ERROR: {message}\n")
                raise BuildError(f"docker build failed: {message.strip()}")
        if image_id is None:
            raise BuildError("docker build finished without an image")
        log.write(f"built {image_id}\n")

    def _push(self, client: docker.DockerClient, artifact: Artifact, log: TextIO) -> None:
        registry, _ = self.registries.for_image(artifact.image)
        auth = registry.credentials.docker_auth() if registry.credentials else None
        self._say(artifact, log, f"push {artifact.ref}")
        for chunk in client.api.push(artifact.image, tag=artifact.tag, stream=True, decode=True, auth_config=auth):
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or chunk["errorDetail"].get("message", "")
                raise BuildError(f"push failed: {message.strip()}")
            status = chunk.get("status")
            if status and "id" not in chunk:
                log.write(status + "\n")


def _default_client() -> docker.DockerClient:
    import docker  # imported on first use (about 0.1 s)

    return docker.from_env(timeout=600)


def _local_image(client: docker.DockerClient, ref: str) -> docker.models.images.Image | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def _docker_message(exc: Exception) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())


def build_all(builder: ImageBuilder, artifacts: Iterable[Artifact], push: bool, jobs: int) -> list[BuildResult]:
    """Ensure every image, up to ``jobs`` at once; one failure does not stop or corrupt the others."""
    from concurrent.futures import ThreadPoolExecutor

    items = list(artifacts)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(lambda a: builder.ensure(a, push), items))
