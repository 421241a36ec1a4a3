"""One docker engine to build on: its client, which builder it uses, and a build through that builder.

BuildKit (the Engine API's `/build?version=2`, through the SDK's low-level client, no session needed: the
context goes as the request body) builds a service in a fraction of the classic builder's time and engine
CPU: the classic builder commits a container per instruction, BuildKit only writes the layers. It also reads
layer cache from a registry image (`cachefrom`, with the inline cache the `BUILDKIT_INLINE_CACHE` build
argument writes into every image), so a fresh CI runner reuses the layers of the previous build.

The builder is chosen per engine: `tars.builder` `buildkit` or `classic` forces one; `auto` (the default)
takes BuildKit when the engine is a Linux engine of API 1.39 or later (Docker 18.09+, where the BuildKit
backend is built in), and falls back to the classic builder, for the rest of the run, when the engine
refuses a BuildKit build. The build log and the progress say which builder and which engine ran each build.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tars_tasks.core.errors import TarsError
from tars_tasks.image.buildkit import TraceLog

if TYPE_CHECKING:  # pragma: no cover
    import docker

BUILDKIT, CLASSIC = "BuildKit", "classic"
BUILDKIT_MIN_API = (1, 39)
PING_TIMEOUT = 10.0  # seconds for the first contact with an engine (a host that does not answer)
BUILD_TIMEOUT = 600  # seconds the SDK waits for the next byte of a build or push
DEFAULT_ENGINE = "DOCKER_HOST"  # how the engine of the environment (DOCKER_HOST or the local socket) is named

Line = Callable[[str], None]


class EngineError(TarsError):
    """A build the engine ran and that failed; the message is what the engine said."""


class EngineDown(TarsError):
    """The engine does not answer."""


@dataclass
class BuildRequest:
    context: bytes  # the build context as a tar
    tag: str  # full image reference
    dockerfile: str = "Dockerfile"
    buildargs: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # ours carry theirs in the Dockerfile (one LABEL)
    cache_from: list[str] = field(default_factory=list)  # registry images whose inline cache BuildKit may use


def docker_client(address: str, timeout: float = PING_TIMEOUT) -> docker.DockerClient:
    """A client for ``address`` (`unix://`, `tcp://`, `ssh://`; DEFAULT_ENGINE = the environment's engine).
    `tcp://` takes TLS from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH as the docker CLI does; `ssh://` runs the
    `ssh` program (its config and agent). Raises EngineDown when the engine does not answer."""
    import docker
    import docker.errors

    try:
        if address == DEFAULT_ENGINE:
            return docker.from_env(timeout=int(timeout))
        kwargs: dict[str, Any] = {}
        if address.startswith("tcp://"):
            tls = docker.utils.kwargs_from_env().get("tls")
            if tls:
                kwargs["tls"] = tls
        if address.startswith("ssh://"):
            kwargs["use_ssh_client"] = True
        return docker.DockerClient(base_url=address, timeout=int(timeout), **kwargs)
    except docker.errors.DockerException as exc:
        raise EngineDown(docker_message(exc)) from None


def display_name(address: str) -> str:
    """How an engine is named in logs: its address; the environment's engine as the SDK finds it."""
    if address != DEFAULT_ENGINE:
        return address
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def docker_message(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) or str(exc)
    return " ".join(str(text).split())


def _api_at_least(version: str, minimum: tuple[int, int]) -> bool:
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= minimum


class Engine:
    """An engine and its one client, shared by every build that runs on it (the SDK's connection pool is
    safe to use from several threads)."""

    def __init__(self, address: str, client: docker.DockerClient, builder: str, may_fall_back: bool = True):
        self.address = address
        self.client = client
        self.builder = builder
        self.may_fall_back = may_fall_back  # False when tars.builder asks for BuildKit

    @classmethod
    def connect(cls, address: str, mode: str = "auto") -> Engine:
        """Connect and ping (PING_TIMEOUT); pick the builder (see the module docstring)."""
        import docker.errors

        client = docker_client(address)
        try:
            version = client.version()
        except docker.errors.DockerException as exc:
            client.close()
            raise EngineDown(docker_message(exc)) from None
        client.api.timeout = BUILD_TIMEOUT
        if mode == "classic":
            builder = CLASSIC
        elif mode == "buildkit":
            builder = BUILDKIT
        else:
            linux = str(version.get("Os", "linux")).lower() == "linux"
            builder = BUILDKIT if linux and _api_at_least(str(version.get("ApiVersion", "")), BUILDKIT_MIN_API) \
                else CLASSIC
        return cls(display_name(address), client, builder, may_fall_back=mode != "buildkit")

    def describe(self) -> str:
        """`unix:///var/run/docker.sock (BuildKit)`: where a build ran, for its log."""
        return f"{self.address} ({self.builder})"

    def close(self) -> None:
        self.client.close()

    def build(self, request: BuildRequest, log: Line, step: Line) -> str:
        """Build ``request``; every progress line goes to ``log``, each step's name to ``step``. Returns the
        image id; a failed build raises EngineError with the engine's message."""
        if self.builder == BUILDKIT:
            try:
                return self._buildkit(request, log, step)
            except _NoBuildKit as exc:
                if not self.may_fall_back:
                    raise EngineError(f"{self.address} refuses BuildKit builds ({exc}) and tars.builder is "
                                      "buildkit") from None
                self.builder = CLASSIC
                log(f"BuildKit refused by {self.address} ({exc}): using the classic builder")
        return self._classic(request, log, step)

    def _buildkit(self, request: BuildRequest, log: Line, step: Line) -> str:
        import docker.errors

        api = self.client.api
        args = {**request.buildargs, "BUILDKIT_INLINE_CACHE": "1"}
        params: dict[str, Any] = {"t": request.tag, "version": "2", "dockerfile": request.dockerfile, "rm": "1",
                                  "forcerm": "1", "buildargs": json.dumps(args)}
        if request.labels:
            params["labels"] = json.dumps(request.labels)
        if request.cache_from:
            params["cachefrom"] = json.dumps(request.cache_from)
        response = api._post(api._url("/build"), params=params, data=request.context, stream=True,
                             headers={"Content-Type": "application/x-tar"})
        try:
            try:
                api._raise_for_status(response)
            except docker.errors.APIError as exc:
                message = docker_message(exc)
                if "buildkit" in message.lower() or exc.status_code in (400, 404) and "version" in message.lower():
                    raise _NoBuildKit(message) from None
                raise
            trace = TraceLog()
            image_id = None
            for chunk in api._stream_helper(response, decode=True):
                if chunk.get("id") == "moby.buildkit.trace" and isinstance(chunk.get("aux"), str):
                    lines, started = trace.feed(chunk["aux"])
                    for line in lines:
                        log(line)
                    for name in started:
                        step(name)
                elif chunk.get("id") == "moby.image.id" and isinstance(chunk.get("aux"), dict):
                    image_id = chunk["aux"].get("ID", image_id)
                elif "stream" in chunk:
                    log(str(chunk["stream"]).rstrip("\n"))
                _raise_error(chunk, log)
        finally:
            response.close()  # also cancels a build that was interrupted
        if image_id is None:
            raise EngineError("docker build finished without an image")
        return image_id

    def _classic(self, request: BuildRequest, log: Line, step: Line) -> str:
        import io

        stream = self.client.api.build(
            fileobj=io.BytesIO(request.context), custom_context=True, tag=request.tag, rm=True, forcerm=True,
            pull=False, dockerfile=request.dockerfile, decode=True, buildargs=request.buildargs or None,
            labels=request.labels or None)
        image_id = None
        for chunk in stream:
            if "stream" in chunk:
                text = str(chunk["stream"])
                for line in text.rstrip("\n").split("\n") if text.strip() else ():
                    log(line)
                if text.strip().startswith("Step "):
                    step(text.strip())
            if "aux" in chunk and isinstance(chunk["aux"], dict):
                image_id = chunk["aux"].get("ID", image_id)
            _raise_error(chunk, log)
        if image_id is None:
            raise EngineError("docker build finished without an image")
        return image_id


class _NoBuildKit(Exception):
    pass


def _raise_error(chunk: dict, log: Line) -> None:
    """The same error, from either builder: `docker build failed: <the engine's message>`."""
    if "error" in chunk or "errorDetail" in chunk:
        detail = chunk.get("errorDetail")
        message = str(chunk.get("error") or (detail.get("message", "") if isinstance(detail, dict) else ""))
        log(f"ERROR: {message.strip()}")
        raise EngineError(f"docker build failed: {message.strip()}")
