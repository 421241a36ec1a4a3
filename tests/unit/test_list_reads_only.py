"""`invoke list` reads the files and lists them; it applies no schema and no rules (that is `invoke validate`)."""
from __future__ import annotations

import shutil
import subprocess
import sys

from support import REPO_ROOT, tool_env


def _list(repo) -> subprocess.CompletedProcess:
    shutil.copy(REPO_ROOT / "tasks.py", repo.root / "tasks.py")
    return subprocess.run([sys.executable, "-m", "invoke", "list", "--json"], cwd=repo.root, env=tool_env(),
                          capture_output=True, text=True, timeout=120)


def test_list_does_not_validate(repo, monkeypatch):
    import tars_tasks.validate.schema as schema

    repo.service("Shop", "Cart", "replicas: 500\nnoSuchKey: 1\n")  # two schema errors: not list's business
    proc = _list(repo)
    assert proc.returncode == 0, proc.stderr
    assert '"id": "Shop.Cart"' in proc.stdout
    assert proc.stderr == ""
    calls = []
    monkeypatch.setattr(schema, "validate", lambda *a, **k: calls.append(a) or [])
    project = repo.load()
    assert project.listing([])[0]["id"] == "Shop.Cart" and calls == []  # no schema applied for a listing
    assert len(project.problems) == 0 and len(calls) == 1  # on first use of `problems` only


def test_list_still_notes_files_it_could_not_read(repo):
    repo.service("Shop", "Cart")
    repo.write("services/Shop/Broken/values.yaml", "app: [unclosed\n")
    proc = _list(repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ("note: not listed: services/Shop/Broken/values.yaml:1:6: YAML syntax error: unclosed '[' "
                           "(started here; the parser gave up at line 2)\nnote: `invoke validate` checks everything\n")
