"""`template/validate/chart --service X` read X and what its rules need, and say exactly what a full read says."""
from __future__ import annotations

import pytest

from tars_tasks.core.errors import UsageError
from tars_tasks.core.index import scan
from tars_tasks.project import Project


def _tricky(repo) -> None:
    """Services whose problems need other files: dependencies, cycles, collisions, files the text cannot read."""
    repo.service("A", "Top", "dependsOn: [A.Mid]\n")
    repo.service("A", "Mid", "dependsOn: [A.Low]\n")
    repo.service("A", "Low")
    repo.service("A", "Lost", "dependsOn: [A.Nowhere]\n")
    repo.service("A", "Ping", "dependsOn: [A.Pong]\n")
    repo.service("A", "Pong", "dependsOn: [A.Ping]\n")
    repo.service("B", "Case")
    repo.service("b", "case", folder="Other/case")  # same id ignoring case, in a folder that does not say so
    repo.service("C", "Img", "repo: {image: 127.0.0.1:5000/c/default}\n")  # flow style: the text cannot say
    repo.service("C", "Default")
    repo.service("D", "Pinned", "repo:\n  image: reg.io/d/pinned:v1\n")
    repo.write("services/E/Quoted/values.yaml", 'app: "E"\nserver: "Quoted"\ntemplate: tars.cpp\n')
    repo.write("services/Z/Broken/values.yaml", "app: Z\nserver: Broken\ntemplate: [unclosed\n")
    repo.service("F", "Ok", "replicas: 200\n")  # a schema error of its own


IDS = ["A.Top", "A.Mid", "A.Low", "A.Lost", "A.Ping", "A.Pong", "B.Case", "b.case", "C.Img", "C.Default",
       "D.Pinned", "E.Quoted", "F.Ok"]


@pytest.mark.parametrize("sid", IDS)
def test_the_named_service_gets_exactly_the_problems_a_full_read_gives_it(repo, sid):
    _tricky(repo)
    settings = repo.settings()
    full = Project.load(settings)
    part = Project.load_selected(settings, [sid])
    # except the broken file whose text plainly names another id: another service's problem, not read here
    expected = [p for p in full.problems_for(full.select([sid])) if p.file != "services/Z/Broken/values.yaml"]
    assert part.problems_for(part.select([sid])) == expected


def test_problems_that_need_other_files_are_found(repo):
    _tricky(repo)
    settings = repo.settings()

    def messages(sid: str) -> list[str]:
        project = Project.load_selected(settings, [sid])
        return [p.message for p in project.problems_for(project.select([sid]))]

    assert messages("A.Lost") == ["A.Nowhere is not a service in this repository"]
    assert messages("A.Ping") == ["dependency cycle: A.Ping -> A.Pong -> A.Ping"]
    assert messages("B.Case") == ["collides with b.case (services/Other/case/values.yaml): same id (ignoring case) "
                                  "'b.case', helm release and TServer name 'b-case', image repository "
                                  "'127.0.0.1:5000/b/case'; one would overwrite the other"]
    assert messages("C.Default") == ["collides with C.Img (services/C/Img/values.yaml): same image repository "
                                     "'127.0.0.1:5000/c/default'; one would overwrite the other"]


def test_only_the_named_service_and_what_its_rules_need_are_parsed(repo):
    _tricky(repo)
    project = Project.load_selected(repo.settings(), ["A.Top"])
    # the chain it depends on, plus the files whose text does not plainly say their id (parsed to know it);
    # not A.Lost, A.Ping, B.Case, ... and the broken Z.Broken is not this service's problem
    assert sorted(s.id for s in project.discovery.services) == ["A.Low", "A.Mid", "A.Top", "C.Img", "E.Quoted"]
    assert project.problems_for(project.select(["A.Top"])) == []


def test_an_unreadable_file_that_could_be_anything_is_reported_as_a_full_read_does(repo):
    repo.service("A", "One")
    repo.write("services/Z/Flow/values.yaml", "{app: Z, server: Flow, template: [unclosed\n")
    settings = repo.settings()
    part = Project.load_selected(settings, ["A.One"])
    full = Project.load(settings)
    assert [str(p) for p in part.problems_for(part.select(["A.One"]))] == \
        [str(p) for p in full.problems_for(full.select(["A.One"]))]
    assert [p.file for p in part.problems_for(part.select(["A.One"]))] == ["services/Z/Flow/values.yaml"]


def test_a_duplicate_id_falls_back_to_reading_everything(repo):
    repo.service("A", "Twin")
    repo.service("A", "Twin", folder="Copy/Twin")
    repo.service("A", "Other")
    project = Project.load_selected(repo.settings(), ["A.Twin"])
    assert len(project.discovery.services) == 3
    assert [p.message for p in project.problems_for(project.select(["A.Twin"]))] == [
        "duplicate service id A.Twin: also defined in services/A/Twin/values.yaml"]


def test_an_unknown_service_is_the_usual_error(repo):
    repo.service("Shop", "Cart")
    project = Project.load_selected(repo.settings(), ["shop.cart"])
    with pytest.raises(UsageError, match=r"unknown service shop.cart; did you mean Shop.Cart\?"):
        project.select(["shop.cart"])


def test_an_overlay_of_the_environment_is_read(repo):
    repo.service("A", "One", "replicas: 1\n")
    repo.write("services/A/One/values.prod.yaml", "replicas: 300\n")
    settings = repo.settings(environments={"prod": {}}, env="prod")
    project = Project.load_selected(settings, ["A.One"])
    assert [(p.file, p.message) for p in project.problems_for(project.select(["A.One"]))] == [
        ("services/A/One/values.prod.yaml", "300 is greater than 99")]


def test_scan_reads_only_plain_top_level_lines(tmp_path):
    def entry(text: str):
        path = tmp_path / "values.yaml"
        path.write_text(text)
        found = scan(path, 1 << 20)
        return found.app, found.server, found.image

    assert entry("app: Shop  # the shop\nserver: Cart\nrepo:\n  image: reg.io/x/y\n") == ("Shop", "Cart", "reg.io/x/y")
    assert entry("app: Shop\nserver: Cart\n") == ("Shop", "Cart", "")
    assert entry("app: 'Shop'\nserver: Cart\n") == (None, None, "")  # quoted: parsed instead
    assert entry("app: Shop\napp: Other\nserver: Cart\n") == (None, None, "")  # twice: parsed instead
    assert entry("app: Shop\nserver: Cart\nrepo: {image: x}\n") == (None, None, "")
    assert entry("app: Shop\nserver: Cart\nconfig:\n  - content: |\n      image: a\n  - image: b\n") == (None, None, "")
    link = tmp_path / "link.yaml"
    link.symlink_to(tmp_path / "values.yaml")
    assert scan(link, 1 << 20).app is None  # a symlink is parsed (read_values decides whether it may be read)


def _age(repo, seconds: int = 60) -> None:
    """Every file and folder under services/ written ``seconds`` ago: past the index's racy window."""
    import os
    import time

    then = time.time() - seconds
    for path in [repo.root / "services", *(repo.root / "services").rglob("*")]:
        os.utime(path, (then, then), follow_symlinks=False)


def test_a_second_run_reads_the_remembered_chain_and_reports_the_same(repo, monkeypatch):
    _tricky(repo)
    _age(repo)
    settings = repo.settings()
    first = {sid: Project.load_selected(settings, [sid]) for sid in IDS}
    read: list[str] = []
    from tars_tasks.core import index

    real = index.read_values
    monkeypatch.setattr(index, "read_values", lambda path, *a: read.append(str(path)) or real(path, *a))
    second = Project.load_selected(settings, ["A.Top"])
    # A.Mid and A.Low are known from the first run: only A.Top and the files the text cannot identify are read
    assert sorted(p.split("/services/")[1] for p in read) == [
        "A/Top/values.yaml", "C/Img/values.yaml", "E/Quoted/values.yaml"]
    for sid in IDS:
        again = Project.load_selected(settings, [sid])
        assert again.problems_for(again.select([sid])) == first[sid].problems_for(first[sid].select([sid])), sid
    assert second.problems_for(second.select(["A.Top"])) == []


def test_an_edit_after_the_first_run_is_seen(repo):
    _tricky(repo)
    _age(repo)
    settings = repo.settings()
    for sid in IDS:
        Project.load_selected(settings, [sid])
    repo.write("services/A/Low/values.yaml", "app: A\nserver: Low\ntemplate: tars.cpp\ndependsOn: [A.Top]\n")
    repo.service("B", "New", folder="Fresh/New")
    repo.write("services/A/Lost/values.yaml", "app: A\nserver: Lost\ntemplate: tars.cpp\ndependsOn: [B.New]\n")

    def messages(sid: str) -> list[str]:
        project = Project.load_selected(settings, [sid])
        return [p.message for p in project.problems_for(project.select([sid]))]

    assert messages("A.Low") == ["dependency cycle: A.Low -> A.Top -> A.Mid -> A.Low"]
    assert messages("A.Lost") == []  # B.New is found in its new folder
    _age(repo)  # now remembered as they are
    assert messages("A.Low") == ["dependency cycle: A.Low -> A.Top -> A.Mid -> A.Low"]
    (repo.root / "services/Fresh/New/values.yaml").unlink()
    assert messages("A.Lost") == ["B.New is not a service in this repository"]


def test_a_corrupt_index_is_ignored(repo):
    _tricky(repo)
    _age(repo)
    settings = repo.settings()
    expected = Project.load_selected(settings, ["A.Lost"]).problems
    cache = settings.dist_path / "cache" / "values-index.json"
    assert cache.is_file()
    for text in ("{", '{"format": "tars-tasks/values-index@1", "root": "x"}', cache.read_text().replace("[", "{", 3)):
        cache.write_text(text)
        assert Project.load_selected(settings, ["A.Lost"]).problems == expected


def test_rows_of_another_shape_are_read_again_not_trusted(repo):
    import hashlib
    import json

    _tricky(repo)
    _age(repo)
    settings = repo.settings()
    expected = Project.load_selected(settings, ["A.Top"]).problems
    cache = settings.dist_path / "cache" / "values-index.json"
    head, _, body = cache.read_text().partition("\n")
    data = json.loads(body)
    data["files"] = {k: 7 for k in data["files"]}  # an int where a row belongs
    data["folders"] = {k: [1, False, ["..", 3], True, []] for k in data["folders"]}
    body = json.dumps(data)
    meta = json.loads(head)
    meta["sha256"] = hashlib.sha256(body.encode()).hexdigest()  # a digest that matches: only the shape is wrong
    cache.write_text(json.dumps(meta) + "\n" + body)
    assert Project.load_selected(settings, ["A.Top"]).problems == expected
