"""Test support shared by unit and acceptance tests: paths, and throwaway monorepos."""
from __future__ import annotations

import textwrap
from pathlib import Path

from tars_tasks.project import Project
from tars_tasks.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
CRDS_DIR = REPO_ROOT.parent / "shared" / "tars-crds"


class Monorepo:
    """A throwaway monorepo under tmp_path: write service files, load the project."""

    def __init__(self, root: Path):
        self.root = root
        (root / "services").mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def service(self, app: str, server: str, body: str = "", folder: str | None = None, **kw) -> Path:
        head = f"app: {app}\nserver: {server}\ntemplate: tars.cpp\n"
        return self.write(f"services/{folder or f'{app}/{server}'}/values.yaml", head + textwrap.dedent(body))

    def settings(self, **overrides) -> Settings:
        return Settings.from_mapping({"root": str(self.root), **overrides})

    def load(self, **overrides) -> Project:
        return Project.load(self.settings(**overrides))

    def problems(self) -> list[str]:
        return [str(p) for p in self.load().problems]

