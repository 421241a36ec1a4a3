"""`invoke --list` and `invoke list` stay fast: the tasks collection imports no heavy library (jsonschema, the
docker SDK, jinja2, lightkube); each is imported by the task that uses it."""
from __future__ import annotations

import subprocess
import sys

from support import REPO_ROOT, tool_env

HEAVY = ("jsonschema", "docker", "jinja2", "lightkube")
REPORT = f"import atexit, sys; atexit.register(lambda: print(sorted(m for m in {HEAVY!r} if m in sys.modules)))"


def _heavy_after(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", f"{REPORT}\n{code}"], cwd=REPO_ROOT, env=tool_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_importing_the_tasks_collection_imports_no_heavy_library():
    assert _heavy_after("import tasks") == "[]"


def test_invoke_list_applies_no_schema_and_imports_no_heavy_library():
    code = "from invoke import Program\nimport tasks\nProgram(namespace=tasks.ns).run(['invoke', 'list'], exit=False)"
    assert _heavy_after(code) == "[]"


def test_validate_of_valid_files_needs_no_schema_library():
    """The compiled checks pass valid files (validate/fastcheck.py): jsonschema is for saying what is wrong."""
    code = "from invoke import Program\nimport tasks\nProgram(namespace=tasks.ns).run(['invoke', 'validate', '--no-render'], exit=False)"
    assert _heavy_after(code) == "[]"


def test_the_check_above_can_see_an_import():
    assert _heavy_after("from tars_tasks.validate.schema import validator\nvalidator()") == "['jsonschema']"


def test_validate_of_a_repository_without_tars_files_imports_no_parser(repo):
    """No .tars file, no interface pass: the IDL parser (lark) is not even imported."""
    repo.service("A", "One")
    code = ("import sys\nfrom tars_tasks.core.settings import Settings\nfrom tars_tasks.project import Project\n"
            "p = Project.load(Settings.from_mapping({'root': '.'}))\n"
            "assert p.check(p.select([]), render=False) == []\nprint('lark' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo.root, env=tool_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
