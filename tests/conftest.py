"""Shared fixtures: temporary monorepos, and the real helm / docker engine / registry for tests that need them.

Tests are marked by what they need (`-m "not docker"` runs the fast part): a test that uses the docker engine
or a registry process is `docker`, the real helm binary `helm`, a fake cluster `cluster` — from the fixtures
it uses (below), or a module's `pytestmark`.
"""
from __future__ import annotations

import contextlib

import pytest

from support import NAMESPACE_PREFIX, REPO_ROOT, Monorepo, new_namespace
from tars_tasks.core.settings import Settings

MARK_BY_FIXTURE = {"docker_client": "docker", "test_base_image": "docker", "registry": "docker", "cluster_registry": "docker",
                   "helm_bin": "helm", "cluster": "cluster"}


def pytest_sessionstart(session) -> None:
    """Compile the package once, here: each of the hundreds of `invoke` processes the tests start compiled it
    again (~0.3 s CPU each), as invoke turns bytecode writing off before its tasks import the package (and
    some machines set PYTHONDONTWRITEBYTECODE). Reading compiled modules is never turned off."""
    import compileall

    compileall.compile_dir(REPO_ROOT / "tars_tasks", quiet=1)


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        for name in sorted({MARK_BY_FIXTURE[f] for f in getattr(item, "fixturenames", ()) if f in MARK_BY_FIXTURE}):
            item.add_marker(name)


@pytest.fixture
def repo(tmp_path) -> Monorepo:
    return Monorepo(tmp_path / "repo")


@pytest.fixture
def namespace() -> str:
    """A repository namespace of this test's own: its images are <registry>/<namespace>/<app>/<server>."""
    return new_namespace()


@pytest.fixture(scope="session")
def helm_bin() -> str:
    """The real helm (setup installs it); tests fail, never skip, when it is missing."""
    return Settings.from_mapping({"root": str(REPO_ROOT)}).helm_binary()


@pytest.fixture(scope="session")
def docker_client():
    """The real engine. At the end, the images this session built (and only those) are removed."""
    import docker
    import docker.errors

    from support import ensure_docker
    from tars_tasks.image.images import LABEL_SERVICE

    ensure_docker()
    client = docker.from_env(timeout=300)
    yield client
    for image in client.api.images(filters={"label": LABEL_SERVICE}):
        for name in (image.get("RepoTags") or []) + (image.get("RepoDigests") or []):  # digests: pushed, retagged
            parts = name.split("/")
            if len(parts) > 2 and parts[1].startswith(NAMESPACE_PREFIX):
                with contextlib.suppress(docker.errors.APIError):  # gone already, or in use by a container
                    client.images.remove(name)
    client.close()


@pytest.fixture(scope="session")
def test_base_image(docker_client) -> str:
    """A base image made here (no pulls possible): busybox rootfs imported with the docker engine."""
    import sys

    from support import TEST_BASE_IMAGE

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from make_base_images import ensure

    ensure(docker_client, [TEST_BASE_IMAGE])
    return TEST_BASE_IMAGE


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """A registry process of this session's own (tests name their images under their own namespace in it)."""
    from support import RegistryProcess

    reg = RegistryProcess(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()
