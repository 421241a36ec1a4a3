"""Shared fixtures: temporary monorepos, and the real helm / docker engine / registry for tests that need them."""
from __future__ import annotations

import pytest

from support import REPO_ROOT, Monorepo
from tars_tasks.settings import Settings


@pytest.fixture
def repo(tmp_path) -> Monorepo:
    return Monorepo(tmp_path / "repo")


@pytest.fixture(scope="session")
def helm_bin() -> str:
    """The real helm (setup installs it); tests fail, never skip, when it is missing."""
    return Settings.from_mapping({"root": str(REPO_ROOT)}).helm_binary()
