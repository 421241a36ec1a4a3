"""Run `invoke` end to end in a monorepo, as a user does."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


class Cli:
    def __init__(self, root: Path):
        self.root = root

    def __call__(self, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=self.root, capture_output=True, text=True,
                              env=full_env, timeout=timeout)


def _build_outputs(folder: str, names: list[str]) -> list[str]:
    """Compiled files that a sample's build step made in the checkout (ignored by git, so not in a clone)."""
    return [n for n in names if (n, Path(folder).name) in {("HelloServer", "HelloServer"), ("OrderServer.jar", "OrderServer")}]


def make_monorepo(dest: Path, with_samples: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "tasks.py", dest / "tasks.py")
    shutil.copy(REPO_ROOT / "invoke.yaml", dest / "invoke.yaml")
    if with_samples:
        shutil.copytree(REPO_ROOT / "services", dest / "services",
                        ignore=_build_outputs)
    else:
        (dest / "services").mkdir()
    return dest


@pytest.fixture
def sample(tmp_path) -> Cli:
    return Cli(make_monorepo(tmp_path / "mono"))
