"""The wheel build maps the top-level chart, schemas and CI templates into the package (tars_tasks/core/assets.py).

`helm-template/`, `schema/` and `ci/` are the one copy in git; building copies them to `tars_tasks/_bundled/` in
the build tree only (never into the checkout). Everything else is declared in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSETS = ("helm-template", "schema", "ci")


class BuildWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        for name in ASSETS:
            target = Path(self.build_lib) / "tars_tasks" / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target, ignore=shutil.ignore_patterns("__pycache__", "*~", "*.swp"))


setup(cmdclass={"build_py": BuildWithAssets})
