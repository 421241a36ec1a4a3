"""Shared fixtures: temporary monorepos, and the real helm / docker engine / registry for tests that need them."""
from __future__ import annotations

import pytest
from support import REPO_ROOT, Monorepo

from tars_tasks.core.settings import Settings


@pytest.fixture
def repo(tmp_path) -> Monorepo:
    return Monorepo(tmp_path / "repo")


@pytest.fixture(scope="session")
def helm_bin() -> str:
    """The real helm (setup installs it); tests fail, never skip, when it is missing."""
    return Settings.from_mapping({"root": str(REPO_ROOT)}).helm_binary()


@pytest.fixture(scope="session")
def docker_client():
    import docker
    from support import ensure_docker

    ensure_docker()
    client = docker.from_env(timeout=300)
    yield client
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
    from support import RegistryProcess

    reg = RegistryProcess(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()
