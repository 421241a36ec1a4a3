"""Issue 22 (items 8-11) through `invoke`, on a copy of the sample monorepo: what came from input is printed
escaped (no forged lines, no terminal escapes), dist/ is never reached through a symlink, build.inputs that
git does not track are refused at validate, and FIFOs and oversized files are located errors."""
from __future__ import annotations

import json
import os
import shutil

from support import init_git

FORGED = "Evil\nok: 7 service(s) valid\x1b[2J"


def test_folder_names_with_newlines_and_escapes_cannot_forge_output(sample):
    folder = sample.root / "services" / FORGED / "X"
    folder.mkdir(parents=True)
    (folder / "values.yaml").write_text("app: Evil\nserver: X\ntemplate: tars.cpp\nservants: [{name: XObj, port: 1}]\n"
                                        "replicas: -3\n")
    listed = sample("list")
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout + listed.stderr
    rows = [line for line in listed.stdout.splitlines() if line.startswith("Evil.X ")]
    assert len(rows) == 1 and "services/Evil\\nok: 7 service(s) valid\\x1b[2J/X" in rows[0]
    assert not [line for line in listed.stdout.splitlines() if line.startswith("ok: ")]
    checked = sample("validate", "--no-render")
    assert checked.returncode == 1
    assert "\x1b" not in checked.stdout + checked.stderr
    assert not [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("ok: ")]
    assert [line for line in checked.stdout.splitlines() if "replicas" in line] == [
        "services/Evil\\nok: 7 service(s) valid\\x1b[2J/X/values.yaml:5:11: replicas: -3 is less than 0"]
    as_json = json.loads(sample("validate", "--no-render", "--json").stdout)  # JSON escapes on its own
    assert any(p["file"] == f"services/{FORGED}/X/values.yaml" for p in as_json["problems"])


def test_a_symlinked_folder_under_dist_is_refused_never_written_through(sample, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (sample.root / "dist").mkdir()
    os.symlink(target, sample.root / "dist" / "charts")
    made = sample("chart", "--service", "Base.HelloServer")
    assert made.returncode == 2
    assert made.stderr.strip() == ("error: dist/charts is a symlink: outputs are written only through real folders, "
                                   "never through a symlink (remove it)")
    assert list(target.iterdir()) == []
    (sample.root / "dist" / "charts").unlink()
    shutil.rmtree(sample.root / "dist")  # what is left is dist/cache (the values index), a real folder
    os.symlink(target, sample.root / "dist")  # dist itself
    again = sample("chart", "--service", "Base.HelloServer")
    assert (again.returncode, again.stderr.split(":")[:2]) == (2, ["error", " dist is a symlink"])
    assert list(target.iterdir()) == []


def test_build_inputs_naming_git_or_files_git_ignores_fail_validate(sample):
    values = sample.root / "services/Base/HelloServer/values.yaml"
    (sample.root / "libs").mkdir()
    (sample.root / "libs" / "gen.o").write_text("built\n")
    (sample.root / ".gitignore").write_text("*.o\n")
    init_git(sample.root)
    (sample.root / "libs" / "new.h").write_text("int x;\n")  # untracked, not ignored: git would track it
    text = values.read_text()
    assert "\nbuild:\n" in text
    values.write_text(text.replace("\nbuild:\n", '\nbuild:\n  inputs: [".git", "libs/gen.o", ".git/config", '
                                                   '"libs/new.h"]\n'))
    result = sample("validate", "--no-render", "--service", "Base.HelloServer")
    assert result.returncode == 1, result.stdout + result.stderr
    found = [line for line in result.stdout.splitlines() if "build.inputs" in line]
    assert [line.split(": ", 2)[1:] for line in found] == [
        ["build.inputs[0]", "'.git' is git's own folder, never an input: name the files the build needs"],
        ["build.inputs[1]", "'libs/gen.o' holds no file git tracks or would track (it is ignored, or empty): the "
                            "build would not find it"],
        ["build.inputs[2]", "'.git/config' is git's own folder, never an input: name the files the build needs"]]


def test_a_fifo_environment_file_and_an_oversized_values_named_with_service_are_located(sample):
    os.mkfifo(sample.root / "environments" / "staging.yaml")
    expected = "environments/staging.yaml:1:1: not a regular file (a device, FIFO or socket): expected a YAML file\n"
    for args in ((), ("--env", "staging")):  # checked in every run, like a service overlay
        staged = sample("validate", "--no-render", *args, timeout=60)
        assert (staged.returncode, staged.stdout) == (1, expected)
    (sample.root / "environments" / "staging.yaml").unlink()

    values = sample.root / "services/Base/HelloServer/values.yaml"
    values.write_text(values.read_text() + "# " + "x" * (9 * 1024 * 1024) + "\n")
    full = sample("validate", "--no-render")
    named = sample("validate", "--no-render", "--service", "Base.HelloServer")
    size_lines = [line for line in full.stdout.splitlines() if line.startswith("services/Base/HelloServer/values.yaml")]
    assert size_lines and "bytes" in size_lines[0]
    assert named.returncode == 1
    assert "unknown service" not in named.stdout + named.stderr
    assert size_lines[0] in named.stdout + named.stderr
