"""Run `invoke` end to end in a monorepo, as a user does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import copy_samples


class Cli:
    def __init__(self, root: Path):
        self.root = root

    def __call__(self, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, capture_output=True, text=True,
                              env=full_env, timeout=timeout)


@pytest.fixture
def sample(tmp_path) -> Cli:
    return Cli(copy_samples(tmp_path / "mono"))
