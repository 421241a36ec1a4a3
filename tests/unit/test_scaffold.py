"""`init` (tars_tasks/scaffold.py, `python -m tars_tasks init`): a new monorepo, all or nothing, never overwriting."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from support import REPO_ROOT
from tars_tasks.core import assets
from tars_tasks.core.errors import TarsError, UsageError
from tars_tasks.core.settings import Settings
from tars_tasks.project import Project
from tars_tasks.scaffold import ExistingFiles, scaffold

EXAMPLE = "services/Demo/HelloServer"


def tree(root: Path) -> dict[str, bytes]:
    """Every file (or link) below ``root``: relative path -> content (a link: its target)."""
    out = {}
    for top, dirs, names in os.walk(root):
        for name in dirs + names:
            path = Path(top) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = b"-> " + os.readlink(path).encode()
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def copies(prefix: str, folder) -> dict[str, bytes]:
    return {f"{prefix}/{rel}": entry.read_bytes() for rel, entry in assets.walk(folder)}


@pytest.mark.parametrize(("ci", "ci_file", "template"), [
    ("gitlab", ".gitlab-ci.yml", "gitlab-ci.yml"),
    ("github", ".github/workflows/tars-tasks.yml", "github-actions.yml"),
    ("none", None, None),
])
def test_writes_every_file_of_a_new_monorepo_and_returns_them(tmp_path, ci, ci_file, template):
    root = tmp_path / "new" / "mono"  # missing folders are made
    written = scaffold(root, ci)
    files = tree(root)
    assert sorted(p.relative_to(root).as_posix() for p in written) == sorted(files)
    assert all(p == root / p.relative_to(root) for p in written)  # root / rel, as given

    expected_ci = {ci_file: (REPO_ROOT / "ci" / template).read_bytes()} if ci_file else {}
    chart, schema = copies("helm-template", assets.chart_dir()), copies("schema", assets.schema_dir())
    assert set(files) == {"tasks.py", "invoke.yaml", ".gitignore", f"{EXAMPLE}/values.yaml", f"{EXAMPLE}/Hello.tars",
                          f"{EXAMPLE}/index.js", f"{EXAMPLE}/package.json", *chart, *schema, *expected_ci}
    assert {k: files[k] for k in chart} == chart and {k: files[k] for k in schema} == schema
    assert {k: files[k] for k in expected_ci} == expected_ci
    code = [line for line in files["tasks.py"].decode().splitlines() if line and not line.startswith('"""')]
    assert code == ["from tars_tasks.tasks import ns, preflight  # noqa: F401", "preflight(__file__)"]
    assert "dist/" in files[".gitignore"].decode().splitlines()


def test_the_settings_use_the_monorepos_own_chart_and_schemas(tmp_path):
    scaffold(tmp_path, "none")
    tars = yaml.safe_load((tmp_path / "invoke.yaml").read_text())["tars"]
    assert (tars["chart_dir"], tars["values_schema"], tars["crds_dir"]) == (
        "helm-template", "schema/values.schema.json", "schema/crds")
    assert (tmp_path / tars["chart_dir"] / "Chart.yaml").is_file()
    assert (tmp_path / tars["values_schema"]).is_file()
    assert (tmp_path / tars["crds_dir"] / "tserver.v1beta3.schema.json").is_file()
    assert sorted(tars["environments"]) == ["prod", "staging"]  # the CI pipeline's --env staging / --env prod
    settings = Settings.from_mapping({**tars, "root": str(tmp_path)})
    assert settings.registry and settings.namespace == "tars"


def test_the_example_service_is_valid_in_every_environment(tmp_path):
    scaffold(tmp_path, "none")
    tars = yaml.safe_load((tmp_path / "invoke.yaml").read_text())["tars"]
    for env in ["", "staging", "prod"]:
        project = Project.load(Settings.from_mapping({**tars, "root": str(tmp_path), "env": env}))
        assert [s.id for s in project.services] == ["Demo.HelloServer"]
        assert project.check(project.services, render=False) == []


def test_refuses_naming_every_file_in_the_way_and_writes_nothing(tmp_path):
    root = tmp_path / "mono"
    (root / "helm-template" / "templates").mkdir(parents=True)
    (root / "tasks.py").write_text("# mine\n")
    (root / "helm-template" / "templates" / "tserver.yaml").write_text("mine\n")
    (root / ".gitignore").symlink_to(root / "nowhere")  # a dangling link is in the way too
    (root / "schema").write_text("a file where a folder goes\n")
    (root / "services").mkdir()
    (root / "services" / "Other").mkdir()
    (root / "README.md").write_text("not ours: no conflict\n")
    before = tree(root)

    with pytest.raises(ExistingFiles) as caught:
        scaffold(root, "github")
    assert caught.value.paths == sorted([root / ".gitignore", root / "helm-template/templates/tserver.yaml",
                                         root / "schema", root / "tasks.py"])
    assert caught.value.exit_code == 2
    assert str(caught.value).splitlines() == [
        f"{root}: 4 file(s) exist already; nothing written (init never overwrites):",
        f"  {root}/.gitignore", f"  {root}/helm-template/templates/tserver.yaml", f"  {root}/schema",
        f"  {root}/tasks.py"]
    assert tree(root) == before


def test_a_second_run_refuses_every_file_of_the_first(tmp_path):
    written = scaffold(tmp_path, "gitlab")
    before = tree(tmp_path)
    with pytest.raises(ExistingFiles) as caught:
        scaffold(tmp_path, "gitlab")
    assert caught.value.paths == sorted(written)
    assert tree(tmp_path) == before


def test_a_write_that_fails_part_way_removes_what_it_wrote(tmp_path, monkeypatch):
    from tars_tasks.core import fsio

    real, calls = fsio.create_new, []

    def create_new(path: Path, data: bytes, mode: int = 0o644) -> None:
        calls.append(path)
        if len(calls) == 6:
            raise OSError(28, "No space left on device", str(path))
        real(path, data, mode)

    monkeypatch.setattr(fsio, "create_new", create_new)
    (tmp_path / "mono").mkdir()
    (tmp_path / "mono" / "keep.txt").write_text("x\n")
    with pytest.raises(TarsError) as caught:
        scaffold(tmp_path / "mono", "gitlab")
    assert str(caught.value) == f"{calls[-1]}: cannot write: No space left on device; nothing written"
    assert tree(tmp_path / "mono") == {"keep.txt": b"x\n"}  # the folders it made are gone too

    calls.clear()
    with pytest.raises(TarsError):
        scaffold(tmp_path / "fresh", "gitlab")
    assert not (tmp_path / "fresh").exists()


def test_bad_choices_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match=r"^--ci: 'jenkins' is not one of gitlab, github, none$"):
        scaffold(tmp_path, "jenkins")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r": not a folder$"):
        scaffold(tmp_path / "file", "none")
    assert tree(tmp_path) == {"file": b"x"}


def test_module_command_prints_the_written_files_and_refuses_with_exit_2(tmp_path, capsys, monkeypatch):
    from tars_tasks.__main__ import main

    monkeypatch.chdir(tmp_path)
    assert main(["init", "--ci", "none"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[:3] == ["tasks.py", "invoke.yaml", ".gitignore"]
    assert sorted(out.splitlines()) == sorted(tree(tmp_path))
    assert err.startswith(f"init: {len(out.splitlines())} file(s) written in .. Next: ")

    assert main(["init", "sub", "--ci", "github"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "sub/.github/workflows/tars-tasks.yml"

    assert main(["init"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[0] == f"error: .: {len(tree(tmp_path)) - len(tree(tmp_path / 'sub'))} file(s) exist " \
                                  "already; nothing written (init never overwrites):"
    assert "Traceback" not in err

    with pytest.raises(SystemExit) as usage:
        main(["init", "--ci", "jenkins"])
    assert usage.value.code == 2
    assert "invalid choice: 'jenkins'" in capsys.readouterr().err
