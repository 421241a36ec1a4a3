"""Run `invoke` end to end in a monorepo, as a user does — with THIS checkout's tars_tasks (support.tool_env)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support import copy_samples, tool_env


class Cli:
    def __init__(self, root: Path):
        self.root = root

    def __call__(self, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        return self.python("-m", "invoke", *args, env=env, timeout=timeout)

    def python(self, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        """`python ARGS` in the monorepo, with the environment `invoke` gets."""
        return subprocess.run([sys.executable, *args], cwd=self.root, capture_output=True, text=True,
                              env=tool_env(env), timeout=timeout)


@pytest.fixture
def sample(tmp_path) -> Cli:
    return Cli(copy_samples(tmp_path / "mono"))


@pytest.fixture(scope="module")
def cluster_registry(tmp_path_factory):
    """A registry process of the module's own, for the tests that deploy to the fake cluster, with a repository
    namespace of the module's own (``.namespace``): the sample's images (same content, same tags) are built and
    pushed by the module's first release, and found in the registry by the releases of its other tests."""
    from support import RegistryProcess, new_namespace

    reg = RegistryProcess(tmp_path_factory.mktemp("registry"))
    reg.namespace = new_namespace()
    yield reg
    reg.stop()
