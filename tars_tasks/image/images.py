"""Build and push service images with the docker SDK: registry first, build only what is missing.

For one service: if the registry has `image:tag`, nothing is built. Otherwise the compile step runs (argv,
in the service folder), a build context is assembled in memory (the Dockerfile rendered from our template
for the server type, or the service's own; `files/` and `inputs/`), the engine builds it with the
fingerprint as a label, and the image is pushed when asked. Every line goes to dist/logs/<id>.build.log.

Builds run on the engines of `tars.builders` (`image/pool.py`: each build takes the next free engine; one
docker client per engine) through BuildKit, or the classic builder where the engine has no BuildKit
(`image/engine.py`); the log says which engine and which builder. Labels go in one LABEL instruction of
our Dockerfile templates (the classic builder commits a container per instruction). With BuildKit, a
pushed image is also pushed as `<image>:latest-cache` and every build reads layer cache from that tag
(inline cache), so a fresh CI runner or another engine reuses the layers of the previous build.

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

Nothing from outside: a file that resolves, after symlinks, outside the service folder (files, Dockerfile)
or the repository (inputs) never goes in (validation reports it; a named file is refused here too).

The compile step (`build.command`) runs with a minimal environment: PATH, HOME, LANG and the variables
`build.env` names; never a credential or key of this tool (core/credentials.py). `build.secrets` names
variables whose values it gets as files only, `$TARS_SECRETS_DIR/<NAME>` (mode 0600, in a temporary folder
outside the repository, removed when the step ends); every such value is redacted from the log and from errors.
Its output is read line by line until the command exits, then for at most `COMPILE_GRACE` seconds (a
background child that keeps stdout open does not hold the build).

`build.timeout` bounds the whole build from its registry check on: the compile step (killed with its process
group when the time is up) and every engine call (image build, pushes), which run under one deadline
(core/deadline.py): an engine that stops answering mid-build fails that build at the deadline.

Tags are immutable: an image tag that exists (in the registry, or in the local engine when not pushing)
with another fingerprint label is refused unless ``overwrite_tag`` (`--overwrite-tag`).

Entries are written by `tars_tasks.core.tarball` (mode 0644, or 0755 for an executable; mtime 0; sorted),
so the context is a function of what the tag hashes.
"""
from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

from tars_tasks.core import children
from tars_tasks.core.credentials import is_credential
from tars_tasks.core.deadline import Cancelled, DeadlinePassed, within
from tars_tasks.core.errors import TarsError
from tars_tasks.core.files import (
    DockerIgnore,
    FileLister,
    in_image,
    inner_path,
    input_files,
    resolves_inside,
    service_files,
)
from tars_tasks.core.fsio import open_log
from tars_tasks.core.redact import redact, redact_text, register_secret
from tars_tasks.core.services import Service
from tars_tasks.core.settings import Settings
from tars_tasks.core.tarball import Tarball
from tars_tasks.core.textenum import TextEnum
from tars_tasks.image.artifacts import Artifact
from tars_tasks.image.engine import BUILDKIT, BuildRequest, Engine, EngineError, docker_message
from tars_tasks.image.pool import EnginePool, NoEngine
from tars_tasks.image.registry import Registries, RegistryError, TagConflict, tag_conflict_message
from tars_tasks.image.spec import inside_folder

if TYPE_CHECKING:  # pragma: no cover
    import docker
    import jinja2

LABEL_FINGERPRINT = "io.tars-tasks.fingerprint"
LABEL_SERVICE = "io.tars-tasks.service"
CACHE_TAG = "latest-cache"  # the tag BuildKit builds read layer cache from (moved by every pushed build)
COMPILE_ENV = ("PATH", "HOME", "LANG")  # what the compile step always sees, besides build.env
COMPILE_GRACE = 2.0  # seconds to read a compile step's output after it exited
SECRETS_DIR_VAR = "TARS_SECRETS_DIR"

Progress = Callable[[str, str], None]  # (service id, message)
T = TypeVar("T")


class BuildError(TarsError):
    pass


class BuildStatus(TextEnum):
    BUILT = "built"  # built locally (not pushed)
    PUSHED = "pushed"
    EXISTS = "exists"  # the registry has the tag: nothing built
    LOCAL = "local"  # the local engine has it (--no-push): nothing built
    PINNED = "pinned"  # repo.image names a tag: never built
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # a signal stopped it, or came before it started



@dataclass
class BuildResult:
    service: str
    image: str  # full reference
    status: BuildStatus
    reason: str = ""
    seconds: float = 0.0
    log: str = ""
    steps: list[str] = field(default_factory=list)
    engine: str = ""  # where it was built: `unix:///var/run/docker.sock (BuildKit)`; "" when not built

    @property
    def ok(self) -> bool:
        return self.status not in (BuildStatus.FAILED, BuildStatus.INTERRUPTED)

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "image": self.image, "status": self.status.value, "reason": self.reason,
                "seconds": round(self.seconds, 3), "log": self.log, "engine": self.engine}

    def summary(self) -> str:
        """One line for people: `App.Server: status image in 1.2s (reason when failed)`."""
        detail = f" ({self.reason})" if not self.ok else ""
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
    labels = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in image_labels(artifact).items())
    return template.render(service_id=artifact.service.id, server_type=spec.type, base_image=spec.base_image,
                           build_args=[k for k, _ in spec.args], has_inputs=bool(spec.inputs),
                           labels=labels).rstrip("\n") + "\n"


def image_labels(artifact: Artifact) -> dict[str, str]:
    return {LABEL_FINGERPRINT: artifact.fingerprint, LABEL_SERVICE: artifact.service.id}


def build_context(artifact: Artifact, root: Path, lister: FileLister) -> bytes:
    """The build context as a tar (see the module docstring for what goes in)."""
    service, spec = artifact.service, artifact.spec
    service_rel = _service_rel(service, root)
    ignore = DockerIgnore.of(service.dir)
    files = [inner_path(service_rel, rel) for rel in service_files(lister, service_rel, ignore, fresh=True)]
    tar = Tarball(mtime=0)
    if spec.dockerfile:  # the service's own Dockerfile: its folder is the context, as with `docker build .`
        dockerfile = inside_folder(spec.dockerfile)
        if dockerfile is None or not resolves_inside(service.dir / dockerfile, service.dir):
            raise BuildError(f"build.dockerfile: {spec.dockerfile!r} is outside {service.dir.name}/")
        if not (service.dir / dockerfile).is_file():
            raise BuildError(f"build.dockerfile: {spec.dockerfile!r} does not exist in {service.dir.name}/")
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
        for rel in input_files(lister, inp):
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
    if os.path.lexists(source) and not resolves_inside(source, service.dir):
        raise BuildError(f"build.files: {entry!r} resolves outside {service.dir.name}/ through a symlink")
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
                if (Path(dirpath) / name).is_file() and resolves_inside(Path(dirpath) / name, service_dir)]
    return sorted(out)


class ImageBuilder:
    """Ensures each artifact's image exists (in the registry when pushing, else locally)."""

    def __init__(self, settings: Settings, registries: Registries | None = None, progress: Progress | None = None,
                 pool: EnginePool | None = None, lister: FileLister | None = None, overwrite_tag: bool = False,
                 jobs: int | None = None, cancel: threading.Event | None = None):
        self.settings = settings
        self.registries = registries or Registries.of(settings, overwrite_tag)
        self.overwrite_tag = overwrite_tag or self.registries.overwrite_tag
        self.progress = progress or (lambda sid, msg: None)
        self.pool = pool or EnginePool(settings.builders, settings.builder, jobs or settings.jobs,
                                       settings.builder_jobs)
        self.lister = lister or FileLister(settings.root)
        self.cancel = cancel or threading.Event()  # set (a signal): nothing new starts, what runs is given up

    def close(self) -> None:
        """Close the engines' clients (the builder is not used after); keep the tags confirmed by this run."""
        self.pool.close()
        self.registries.memory.save()

    def log_path(self, artifact: Artifact) -> Path:
        return self.settings.log_path / f"{artifact.service.id}.build.log"

    def ensure(self, artifact: Artifact, push: bool) -> BuildResult:
        import docker.errors
        import requests.exceptions
        import urllib3.exceptions

        start = time.monotonic()
        result = BuildResult(artifact.service.id, artifact.ref, BuildStatus.FAILED, log=str(self.log_path(artifact)))
        if self.cancel.is_set():
            result.status, result.reason = BuildStatus.INTERRUPTED, "not started: interrupted by a signal"
            return result
        log_path = self.log_path(artifact)
        # never through a symlink; a log that fails does not fail the build
        with open_log(log_path, self.settings.root) as opened:
            log = cast(TextIO, opened)
            try:
                self._ensure(artifact, push, result, log)
            except (BuildError, RegistryError, EngineError, NoEngine, DeadlinePassed, Cancelled) as exc:
                result.status, result.reason = BuildStatus.FAILED, redact_text(str(exc))
                log.write(f"FAILED: {result.reason}\n")
            except docker.errors.DockerException as exc:
                result.status, result.reason = BuildStatus.FAILED, f"docker: {redact_text(docker_message(exc))}"
                log.write(f"FAILED: {result.reason}\n")
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as exc:
                # an engine that went away mid-build: the SDK lets the transport's error through
                result.status = BuildStatus.FAILED
                result.reason = f"docker: connection to {result.engine or 'the engine'} lost: {redact_text(str(exc))}"
                log.write(f"FAILED: {result.reason}\n")
            if self.cancel.is_set() and result.status is BuildStatus.FAILED:  # its compile step or engine call
                result.status = BuildStatus.INTERRUPTED                        # was stopped by the signal
                result.reason = f"interrupted by a signal ({result.reason})"
                log.write("INTERRUPTED\n")
        result.seconds = time.monotonic() - start
        return result

    def _say(self, artifact: Artifact, log: TextIO, message: str) -> None:
        message = redact_text(message)
        log.write(message + "\n")
        log.flush()
        self.progress(artifact.service.id, message)

    def _ensure(self, artifact: Artifact, push: bool, result: BuildResult, log: TextIO) -> None:
        """Registry check, then compile, build and push on an engine, all within `build.timeout` from now."""
        deadline = time.monotonic() + artifact.spec.timeout
        try:
            in_registry = self.registries.has(artifact.image, artifact.tag, artifact.fingerprint)
        except TagConflict:
            raise
        except RegistryError as exc:
            if push:
                raise
            in_registry = False
            self._say(artifact, log, f"registry check skipped: {exc}")
            registry_ok = False
        else:
            registry_ok = True
        if in_registry:
            result.status, result.reason = BuildStatus.EXISTS, "image tag already in the registry"
            self._say(artifact, log, f"{artifact.ref} is in the registry: not built")
            return
        def warn(warnings: list[str]) -> None:  # once per run, from the build that contacted the engines
            for warning in warnings:
                self.progress(artifact.service.id, f"warning: {warning}")

        with self.pool.engine(warn) as engine:
            result.engine = engine.describe()
            for warning in self.pool.warnings:
                log.write(f"warning: {warning}\n")
            self._say(artifact, log, f"engine {result.engine}")
            self._on_engine(engine, artifact, push, registry_ok, result, log, deadline)
            result.engine = engine.describe()  # the builder it ended with (an engine may refuse BuildKit)

    def _on_engine(self, engine: Engine, artifact: Artifact, push: bool, registry_ok: bool, result: BuildResult,
                   log: TextIO, deadline: float) -> None:
        """Every engine call under the build's deadline (a stalled engine fails the build at it, and the message
        says which part was running); the compile step in between keeps its own: it is killed at the deadline
        and says so itself."""
        client = engine.client

        def bounded(what: str, work: Callable[[], T]) -> T:
            return within(work, deadline, f"build.timeout ({artifact.spec.timeout:.0f}s, the whole build) passed "
                                          f"during {what}: the engine {engine.address} did not finish in time",
                          self.cancel)

        local = bounded("the check for a local image", lambda: _local_image(client, artifact.ref))
        found = local.labels.get(LABEL_FINGERPRINT) if local is not None else None
        if local is not None and found != artifact.fingerprint and not push and not self.overwrite_tag:
            raise TagConflict(tag_conflict_message(artifact.ref, "the local engine", found, artifact.fingerprint))
        if local is not None and found == artifact.fingerprint:
            self._say(artifact, log, f"{artifact.ref} exists locally with the same fingerprint: not built")
            result.status, result.reason = BuildStatus.LOCAL, "image already built locally"
        else:
            self._compile(artifact, log, deadline)
            bounded("the image build", lambda: self._build(engine, artifact, log, cache=registry_ok))
            result.status, result.reason = BuildStatus.BUILT, "image tag not in registry"
        if push:
            bounded(f"the push of {artifact.ref}", lambda: self._push_checked(engine, artifact, result, log))

    def _push_checked(self, engine: Engine, artifact: Artifact, result: BuildResult, log: TextIO) -> None:
        client = engine.client
        try:
            self._push(client, artifact, artifact.tag, log)
        except BaseException:
            self.registries.push_failed(artifact.image, artifact.tag)
            raise
        result.status = BuildStatus.PUSHED
        if not self.registries.has(artifact.image, artifact.tag):  # exists now (content checked at push)
            raise BuildError(f"pushed {artifact.ref} but the registry does not list it")
        self.registries.pushed(artifact.image, artifact.tag, artifact.fingerprint)
        if engine.builder == BUILDKIT:
            self._push_cache(client, artifact, log)

    def _compile(self, artifact: Artifact, log: TextIO, deadline: float) -> None:
        spec = artifact.spec
        argv = list(spec.command)
        if not argv:
            return
        self._say(artifact, log, f"compile: {' '.join(redact(argv))}")
        with tempfile.TemporaryDirectory(prefix="tars-secrets-") as secrets_dir:
            env = compile_env(spec.env, spec.secrets, os.environ, Path(secrets_dir))
            code, tail = run_compile(argv, artifact.service.dir, env, max(0.0, deadline - time.monotonic()), log)
        if code is None:
            raise BuildError(f"build.timeout ({spec.timeout:.0f}s, the whole build) passed during the compile step: "
                             f"build.command {' '.join(redact(argv))!r} did not finish in time (killed)")
        if code != 0:
            raise BuildError(f"build.command {' '.join(redact(argv))!r} failed (exit {code}): {' | '.join(tail)}")

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
                             f"{docker_message(exc)}") from None

    def _build(self, engine: Engine, artifact: Artifact, log: TextIO, cache: bool) -> None:
        self._ensure_base_image(engine.client, artifact, log)
        context = build_context(artifact, self.settings.root, self.lister)
        self._say(artifact, log, f"build {artifact.ref} (from {artifact.spec.base_image or 'own Dockerfile'}) "
                                 f"with {engine.builder}")
        request = BuildRequest(context, artifact.ref, artifact.spec.dockerfile or "Dockerfile",
                               buildargs=dict(artifact.spec.args),
                               labels=image_labels(artifact) if artifact.spec.dockerfile else {},
                               cache_from=[f"{artifact.image}:{CACHE_TAG}"] if cache else [])

        def line(text: str) -> None:
            log.write(redact_text(text) + "\n")

        image_id = engine.build(request, line, lambda name: self.progress(artifact.service.id, redact_text(name)))
        log.write(f"built {image_id}\n")

    def _push(self, client: docker.DockerClient, artifact: Artifact, tag: str, log: TextIO) -> None:
        auth = self.registries.push_auth(artifact.image)  # TARS_REGISTRY_* for tars.registry's host only
        self._say(artifact, log, f"push {artifact.image}:{tag}")
        for chunk in client.api.push(artifact.image, tag=tag, stream=True, decode=True, auth_config=auth):
            if "error" in chunk or "errorDetail" in chunk:
                message = chunk.get("error") or chunk["errorDetail"].get("message", "")
                raise BuildError(f"push failed: {message.strip()}")
            status = chunk.get("status")
            if status and "id" not in chunk:
                log.write(redact_text(status) + "\n")

    def _push_cache(self, client: docker.DockerClient, artifact: Artifact, log: TextIO) -> None:
        """Move `<image>:latest-cache` to this build (the layers are in the registry already, so this is a
        manifest); the local tag is removed again. A failure is a note: the cache is only a speed-up."""
        import docker.errors

        try:
            client.api.tag(artifact.ref, artifact.image, CACHE_TAG, force=True)
            try:
                self._push(client, artifact, CACHE_TAG, log)
            finally:
                client.api.remove_image(f"{artifact.image}:{CACHE_TAG}", noprune=True)
        except (BuildError, docker.errors.DockerException) as exc:
            self._say(artifact, log, f"note: build cache tag not pushed: {redact_text(docker_message(exc))}")


def compile_env(names: Iterable[str], secrets: Iterable[str], environ: os._Environ[str] | dict[str, str],
                secrets_dir: Path) -> dict[str, str]:
    """The compile step's environment: COMPILE_ENV and ``names`` from ``environ``; each of ``secrets`` written
    to ``secrets_dir``/NAME (0600) and registered for redaction, the folder given as $TARS_SECRETS_DIR."""
    # a credential of this tool never, whatever build.env says (validate refuses it already)
    env = {k: environ[k] for k in (*COMPILE_ENV, *names) if k in environ and not is_credential(k)}
    secrets = list(secrets)
    missing = [name for name in secrets if name not in environ]
    if missing:
        raise BuildError(f"build.secrets: {', '.join(missing)} not set in the environment")
    for name in secrets:
        register_secret(environ[name])
        fd = os.open(secrets_dir / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(environ[name])
    if secrets:
        env[SECRETS_DIR_VAR] = str(secrets_dir)
    return env


def run_compile(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, log: TextIO
                ) -> tuple[int | None, list[str]]:
    """Run the compile step, writing its output (redacted, line by line) to ``log``. Returns (exit code, last
    three lines); the code is None when it ran past ``timeout`` (then its process group is killed). Output is
    read until the command exits, then for COMPILE_GRACE seconds more: a background child it left with
    stdout open does not hold the build."""
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        raise BuildError(f"build.command: {argv[0]!r} not found") from None
    except PermissionError:
        raise BuildError(f"build.command: {argv[0]!r} is not executable") from None
    assert proc.stdout is not None
    tail: deque[str] = deque(maxlen=3)
    try:
        with children.tracked(proc):  # a signal to the release stops it (core/children.py)
            timed_out = _pump(proc, proc.stdout.fileno(), time.monotonic() + timeout, log, tail)
    except BaseException:  # interrupted (Ctrl-C, a log that cannot be written): leave nothing running
        _kill_group(proc)
        raise
    finally:
        proc.stdout.close()
    if timed_out:
        return None, list(tail)
    return proc.wait(), list(tail)


def _pump(proc: subprocess.Popen, fd: int, deadline: float, log: TextIO, tail: deque[str]) -> bool:
    """Copy lines from ``fd`` to ``log`` (see run_compile). True when the deadline passed first."""
    buffer = b""
    grace_end: float | None = None

    def emit(raw: bytes) -> None:
        line = redact_text(raw.decode("utf-8", "replace").rstrip("\r"))
        log.write(line + "\n")
        if line.strip():
            tail.append(line.strip())

    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if grace_end is None and proc.poll() is not None:
                grace_end = now + COMPILE_GRACE
            limit = grace_end if grace_end is not None else deadline
            if now >= limit:
                if grace_end is None:
                    _kill_group(proc)
                    return True
                break
            if not selector.select(min(limit - now, 0.2)):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            *lines, buffer = (buffer + chunk).split(b"\n")
            for raw in lines:
                emit(raw)
    if buffer:
        emit(buffer)
    log.flush()
    return False


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _local_image(client: docker.DockerClient, ref: str) -> docker.models.images.Image | None:
    import docker.errors

    try:
        return client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None


def build_all(builder: ImageBuilder, artifacts: Iterable[Artifact], push: bool, jobs: int) -> list[BuildResult]:
    """Ensure every image, up to ``jobs`` at once; one failure does not stop or corrupt the others."""
    from concurrent.futures import ThreadPoolExecutor

    items = list(artifacts)
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        return list(pool.map(lambda a: builder.ensure(a, push), items))
