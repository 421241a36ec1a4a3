"""--since through interfaces (a git repository in tmp): a change to an owned interface marks the clients that
copy or include it, `interfaces --since` classifies it, and a release refuses a breaking change whose clients
it does not rebuild, unless --allow-breaking."""
from __future__ import annotations

import subprocess

import pytest

from support import Monorepo, init_git
from tars_tasks import Options, make_plan
from tars_tasks.core.errors import UsageError
from tars_tasks.deploy.release import refuse_breaking
from tars_tasks.interfaces.report import interfaces_report
from tars_tasks.plan.changes import changed_files

OWNER = """\
module Test
{
    struct Req { 0 require string text; };
    interface BServant
    {
        int queryResult(string sIn, out string sOut);
    };
};
"""
BREAKING = OWNER.replace("int queryResult(string sIn, out string sOut);",
                         "int queryResult(string sIn);\n        int ping();")
COMPATIBLE = OWNER.replace("int queryResult(string sIn, out string sOut);",
                           "int queryResult(string sIn, out string sOut);\n        int ping();")


class NoImages:
    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        return False


def commit(root, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], cwd=root,
                   check=True)


@pytest.fixture
def mono(repo: Monorepo) -> Monorepo:
    repo.service("Test", "BServer", "servants:\n  - name: BServantObj\n    port: 10000\n")
    repo.write("services/Test/BServer/BServant.tars", OWNER)
    repo.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10001\ndependsOn: [Test.BServer]\n")
    repo.write("services/Test/AServer/BServant.tars", OWNER)  # a copy
    repo.write("services/Test/AServer/main.cpp", 'auto b = proxy("Test.BServer.BServantObj");\n')
    repo.service("Test", "CServer", "servants:\n  - name: CObj\n    port: 10002\ndependsOn: [Test.BServer]\n")
    repo.write("services/Test/CServer/C.tars", '#include "../BServer/BServant.tars"\n'
                                               "module Test { interface C { int f(Req r); }; };\n")
    repo.service("Test", "DServer", "servants:\n  - name: DObj\n    port: 10003\n")
    init_git(repo.root)
    return repo


def plan(repo: Monorepo, **options):
    return make_plan(repo.load(), Options(since="HEAD", **options), registries=NoImages())[0]


def test_interfaces_since_classifies_each_change(mono):
    mono.write("services/Test/BServer/BServant.tars", BREAKING)
    project = mono.load()
    report = interfaces_report(project.settings, project.services, "HEAD", changed_files(mono.root, "HEAD"))
    assert report.since is not None
    assert [(d.name, d.owner, d.file) for d in report.since.definitions] == [
        ("Test.BServant", "Test.BServer", "services/Test/BServer/BServant.tars")]
    assert [(c.kind, c.subject, c.message) for c in report.since.definitions[0].changes] == [
        ("breaking", "Test.BServant.queryResult", "method queryResult: parameter 2 (out string sOut) removed"),
        ("compatible", "Test.BServant.ping", "method ping added")]
    assert report.to_json()["since"]["breaking"] == 1


def test_a_compatible_change_is_not_breaking_and_a_copy_edit_is_no_owner_change(mono):
    mono.write("services/Test/BServer/BServant.tars", COMPATIBLE)
    mono.write("services/Test/AServer/BServant.tars", "// edited copy\n" + OWNER)
    project = mono.load()
    since = interfaces_report(project.settings, project.services, "HEAD", changed_files(mono.root, "HEAD")).since
    assert since is not None and since.breaking == []
    assert [(d.name, [c.kind for c in d.changes]) for d in since.definitions] == [("Test.BServant", ["compatible"])]


def test_since_through_an_interface_change_marks_the_clients_with_the_reason(mono):
    mono.write("services/Test/BServer/BServant.tars", COMPATIBLE)
    commit(mono.root, "BServant: ping")
    mono.write("services/Test/BServer/BServant.tars", COMPATIBLE.replace("int ping();", "int ping();\n        int pong();"))
    found = {s.id: (s.changed, s.reasons) for s in plan(mono).services}
    assert found["Test.BServer"][0] and found["Test.BServer"][1][0].startswith("changed since HEAD: ")
    assert found["Test.AServer"] == (True, [
        "interface Test.BServant changed since HEAD in services/Test/BServer/BServant.tars (method pong added); "
        "it keeps a copy in services/Test/AServer/BServant.tars", "image tag not in registry"])
    assert found["Test.CServer"] == (True, [
        "includes services/Test/BServer/BServant.tars (services/Test/CServer/C.tars), changed since HEAD",
        "image tag not in registry"])
    assert found["Test.DServer"] == (False, ["nothing changed since HEAD"])


def test_a_comment_only_change_marks_includers_but_not_copies(mono):
    mono.write("services/Test/BServer/BServant.tars", "// reworded\n" + OWNER)
    found = {s.id: s.changed for s in plan(mono).services}
    assert found == {"Test.BServer": True, "Test.AServer": False, "Test.CServer": True, "Test.DServer": False}


def test_release_refuses_a_breaking_change_whose_clients_it_does_not_rebuild(mono):
    mono.write("services/Test/BServer/BServant.tars", BREAKING)
    mono.write("services/Test/AServer/BServant.tars", BREAKING)  # the copy follows: no stale copy
    only_server = plan(mono, ids=["Test.BServer"])
    assert only_server.breaking == [
        "Test.BServer: breaking change to Test.BServant since HEAD (method queryResult: parameter 2 (out string sOut) removed "
        "(+1 more) in services/Test/BServer/BServant.tars) but its clients Test.AServer, Test.CServer are not in "
        "this release"]
    assert "breaking interface change: " + only_server.breaking[0] in only_server.notes
    with pytest.raises(UsageError, match="refusing to release a breaking interface change"):
        refuse_breaking(only_server, Options(since="HEAD"))
    refuse_breaking(only_server, Options(since="HEAD", allow_breaking=True))  # --allow-breaking: goes on
    everyone = plan(mono)
    assert {s.id for s in everyone.services if s.changed} == {"Test.BServer", "Test.AServer", "Test.CServer"}
    assert everyone.breaking == []
    refuse_breaking(everyone, Options(since="HEAD"))


def test_a_copy_the_released_owner_breaks_is_refused_in_content_mode_too(mono):
    mono.write("services/Test/BServer/BServant.tars", BREAKING)
    commit(mono.root, "BServant: parameter n")
    released = make_plan(mono.load(), Options(ids=["Test.BServer"], force_ids=["Test.BServer"]),
                         registries=NoImages())[0]
    assert released.breaking == [
        "Test.BServer: Test.BServant in services/Test/BServer/BServant.tars breaks the copy Test.AServer builds with "
        "(services/Test/AServer/BServant.tars: method queryResult: parameter 2 (out string sOut) removed)"]
    assert [s.id for s in released.services if s.changed] == ["Test.BServer"]


def test_only_the_changed_files_named_are_compared(mono):
    mono.write("services/Test/BServer/BServant.tars", BREAKING)
    project = mono.load()
    assert interfaces_report(project.settings, project.services, "HEAD", []).since.definitions == []
