"""Discovery and file reading: ids from the file, duplicates, and located errors for unreadable YAML."""
from __future__ import annotations

import pytest

from tars_tasks.core.errors import UsageError


def test_id_comes_from_the_file_not_the_folder(repo):
    repo.write("services/whatever/deep/values.yaml", "app: Base\nserver: Hello\ntemplate: tars.cpp\n")
    project = repo.load()
    assert [s.id for s in project.services] == ["Base.Hello"]
    assert project.services[0].name == "base-hello"


def test_duplicate_ids_name_both_paths(repo):
    repo.write("services/a/values.yaml", "app: Base\nserver: Hello\ntemplate: tars.cpp\n")
    repo.write("services/b/values.yaml", "app: Base\nserver: Hello\ntemplate: tars.cpp\n")
    assert repo.problems() == ["services/b/values.yaml:1:6: app: duplicate service id Base.Hello: also defined in "
                               "services/a/values.yaml"]


def test_folders_without_values_yaml_and_hidden_folders_are_not_services(repo):
    repo.write("services/libs/common/x.js", "1")
    repo.write("services/.cache/values.yaml", "app: Hidden\nserver: X\ntemplate: tars.cpp\n")
    repo.write("services/A/node_modules/m/values.yaml", "app: Vendored\nserver: X\ntemplate: tars.cpp\n")
    assert repo.load().services == []


@pytest.mark.parametrize("content,expected", [
    (b"", "services/X/values.yaml:1:1: empty file; expected a mapping with app, server, ..."),
    (b"# only a comment\n", "services/X/values.yaml:1:1: empty file; expected a mapping with app, server, ..."),
    (b"- a\n- b\n", "services/X/values.yaml:1:1: top level is a list; expected a mapping"),
    (b"just text\n", "services/X/values.yaml:1:1: top level is string 'just text'; expected a mapping"),
    (b"app: A\nserver: [\n", "services/X/values.yaml:2:9: YAML syntax error: unclosed '[' (started here; "
                             "the parser gave up at line 3)"),
    (b"app: A\n  server: B\n", "services/X/values.yaml:2:9: YAML syntax error: mapping values are not allowed in this context"),
    (b"app: A\n\x00\x01\x02", "services/X/values.yaml:2:1: binary content (NUL byte); expected a UTF-8 YAML file"),
    (b"app: A\nserver: caf\xe9\n", "services/X/values.yaml:2:12: not valid UTF-8 (byte 0xe9); save the file as UTF-8"),
    (b"a: &x [*x]\n", "services/X/values.yaml:1:1: recursive YAML alias (an anchor that contains itself)"),
])
def test_unreadable_files_give_one_located_line(repo, content, expected):
    repo.write("services/X/values.yaml", content)
    problems = repo.problems()
    if expected is None:
        assert problems and all(p.startswith("services/X/values.yaml:") for p in problems)
    else:
        assert problems == [expected]


def test_utf8_bom_is_accepted(repo):
    repo.write("services/X/values.yaml", "\ufeffapp: A\nserver: B\ntemplate: tars.cpp\n".encode("utf-8"))
    assert repo.problems() == []


def test_dependency_cycle_is_named(repo):
    repo.service("A", "One", "dependsOn: [B.Two]\n")
    repo.service("B", "Two", "dependsOn: [C.Three]\n")
    repo.service("C", "Three", "dependsOn: [A.One]\n")
    assert repo.problems() == ["services/A/One/values.yaml:4:13: dependsOn[0]: dependency cycle: "
                               "A.One -> B.Two -> C.Three -> A.One"]


def test_unknown_dependency_and_self_dependency(repo):
    repo.service("A", "One", "dependsOn: [A.One, B.Missing]\n")
    assert repo.problems() == [
        "services/A/One/values.yaml:4:13: dependsOn[0]: A.One depends on itself",
        "services/A/One/values.yaml:4:20: dependsOn[1]: B.Missing is not a service in this repository",
    ]


def test_select_unknown_service_suggests_case_fix(repo):
    repo.service("Base", "Hello")
    with pytest.raises(UsageError, match=r"unknown service base.hello; did you mean Base.Hello\?"):
        repo.load().select(["base.hello"])


def test_missing_services_folder_is_a_usage_error(tmp_path):
    from tars_tasks.core.settings import Settings
    from tars_tasks.project import Project

    with pytest.raises(UsageError, match="services folder not found"):
        Project.load(Settings.from_mapping({"root": str(tmp_path)}))


def test_real_paths_resolve_as_realpath_does(tmp_path):
    import os

    from tars_tasks.core.services import RealPaths

    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "f").write_text("x")
    (tmp_path / "a" / "out").symlink_to("/etc")
    (tmp_path / "a" / "lf").symlink_to(tmp_path / "a" / "b")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    real = RealPaths()
    for rel in ("a/b", "a/f", "a/out", "a/lf", "link/b", "link/out", "a/missing", "link", "a/b/../f", "a/out/../x",
                "link/lf", "link/lf/deeper", "a/out/passwd"):
        assert real(tmp_path / rel) == os.path.realpath(tmp_path / rel), rel
