"""The acceptance tests test THIS checkout: every `invoke` they run imports its tars_tasks, whatever checkout
was last `pip install -e`'d and whatever PYTHONPATH the caller has."""
from __future__ import annotations

from pathlib import Path

from support import REPO_ROOT


def test_tool_subprocesses_import_this_checkout(sample, tmp_path):
    decoy = tmp_path / "elsewhere"  # another checkout, first on the caller's PYTHONPATH
    (decoy / "tars_tasks").mkdir(parents=True)
    (decoy / "tars_tasks" / "__init__.py").write_text("")
    (decoy / "tars_tasks" / "tasks.py").write_text("raise ImportError('another checkout was imported')\n")
    env = {"PYTHONPATH": str(decoy)}
    where = sample.python("-c", "import tars_tasks.tasks; print(tars_tasks.__file__)", env=env)
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == REPO_ROOT / "tars_tasks" / "__init__.py"
    listed = sample("list", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Base.HelloServer" in listed.stdout
