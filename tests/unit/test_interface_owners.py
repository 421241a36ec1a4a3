"""Who owns an interface (the XObj convention, servants[].interface, two owners), and stale copies: as
`invoke validate` reports them, located in the file to fix."""
from __future__ import annotations

import json

import pytest

from support import Monorepo
from tars_tasks.interfaces.catalog import load
from tars_tasks.interfaces.checks import validate_interfaces

HELLO = """\
module Test
{
    struct Req { 0 require string text; 1 optional int lang = 0; };
    interface BServant
    {
        int queryResult(string sIn, out string sOut);
    };
};
"""


def problems(repo: Monorepo) -> list[str]:
    project = repo.load()
    return [str(p) for p in validate_interfaces(project.settings, project.services, project.services)]


def catalog(repo: Monorepo):
    project = repo.load()
    return load(project.settings.root, "services", project.services)


@pytest.fixture
def server(repo: Monorepo) -> Monorepo:
    repo.service("Test", "BServer", "servants:\n  - name: BServantObj\n    port: 10000\n")
    repo.write("services/Test/BServer/BServant.tars", HELLO)
    return repo


def test_servant_xobj_serves_interface_x_from_its_own_folder(server):
    found = catalog(server)
    owner = found.owners["Test.BServant"]
    assert (owner.object_name, owner.interface.file, owner.explicit) == (
        "Test.BServer.BServantObj", "services/Test/BServer/BServant.tars", False)
    # the struct beside it is the owner's too
    assert found.owned["Test.Req"][0] == "Test.BServer"
    assert problems(server) == []


def test_the_convention_needs_the_file_in_the_services_own_folder(repo):
    repo.service("Test", "BServer", "servants:\n  - name: BServantObj\n    port: 10000\n")
    repo.write("services/Test/Other/BServant.tars", HELLO)  # no service here
    assert catalog(repo).owners == {}


def test_servants_interface_names_it_explicitly(repo):
    repo.service("Test", "BServer", "servants:\n  - name: MainObj\n    port: 10000\n    interface: Test.BServant\n"
                                    "  - name: AdminObj\n    port: 10001\n    isTars: false\n")
    repo.write("services/Test/BServer/idl/BServant.tars", HELLO)
    repo.write("services/Test/BServer/idl/Admin.tars", "module Test { interface Admin { int ping(); }; };\n")
    found = catalog(repo)
    assert {n: (o.object_name, o.explicit) for n, o in found.owners.items()} == {
        "Test.BServant": ("Test.BServer.MainObj", True)}  # AdminObj is not TARS: it serves nothing


def test_an_explicit_interface_may_live_in_a_shared_folder(repo):
    repo.service("Test", "BServer", "servants:\n  - name: MainObj\n    port: 10000\n    interface: Test.BServant\n")
    repo.write("services/idl/BServant.tars", HELLO)
    assert catalog(repo).owners["Test.BServant"].interface.file == "services/idl/BServant.tars"


def test_an_explicit_interface_that_no_file_defines_is_located(repo):
    repo.service("Test", "BServer", "servants:\n  - name: MainObj\n    port: 10000\n    interface: Test.Nope\n")
    assert problems(repo) == [
        "services/Test/BServer/values.yaml:7:16: servants[0].interface: interface Test.Nope is not defined in any "
        ".tars file git tracks in this service's folder or outside every service folder"]


def test_the_interface_key_must_be_module_dot_name(repo):
    repo.service("Test", "BServer", "servants:\n  - name: MainObj\n    port: 10000\n    interface: BServant\n")
    assert [str(p) for p in repo.load().problems] == [
        "services/Test/BServer/values.yaml:7:16: servants[0].interface: 'BServant' is invalid: expected Module.Name "
        "of the TARS interface this servant serves (default: XObj serves X)"]


def test_two_owners_of_one_interface_is_an_error_naming_both(server):
    server.service("Test", "CServer", "servants:\n  - name: CObj\n    port: 10000\n    interface: Test.BServant\n")
    server.write("services/Test/CServer/BServant.tars", HELLO)
    assert problems(server) == [
        "services/Test/CServer/values.yaml:7:16: servants[0].interface: interface Test.BServant has two owners: "
        "Test.BServer.BServantObj (services/Test/BServer/BServant.tars) and Test.CServer.CObj "
        "(services/Test/CServer/BServant.tars); one service serves an interface"]


def test_a_stale_copy_is_an_error_at_the_copy_naming_both_files_and_the_first_difference(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n")
    server.write("services/Test/AServer/BServant.tars", HELLO.replace(", out string sOut", ""))
    assert problems(server) == [
        "services/Test/AServer/BServant.tars:4:15: Test.BServant is a stale copy of "
        "services/Test/BServer/BServant.tars:4 (owned by Test.BServer), which differs: method queryResult: "
        "parameter 2 (out string sOut) added"]


def test_a_stale_copy_of_a_struct_is_an_error_too(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n")
    server.write("services/Test/AServer/BServant.tars", HELLO.replace("1 optional int lang = 0;", ""))
    assert [p.split(": ", 1)[0] for p in problems(server)] == ["services/Test/AServer/BServant.tars:3:12"]
    assert "Test.Req is a stale copy of services/Test/BServer/BServant.tars:3" in problems(server)[0]


def test_a_stale_default_reads_with_the_owners_file_before_the_explanation(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n")
    server.write("services/Test/AServer/BServant.tars", HELLO.replace("lang = 0;", "lang = 1;"))
    assert problems(server) == [
        "services/Test/AServer/BServant.tars:3:12: Test.Req is a stale copy of services/Test/BServer/BServant.tars:3 "
        "(owned by Test.BServer), which differs: field lang (tag 1): default 1 changed to 0: an optional field "
        "equal to its default is not sent"]


def test_a_copy_differing_only_in_comments_layout_and_parameter_names_is_current(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n")
    server.write("services/Test/AServer/BServant.tars",
                 "// my copy\nmodule Test {\n struct Req { 0 require string text; 1 optional int lang = 0; };\n"
                 " interface BServant { int queryResult(string in1, /* result */ out string out1); };\n};\n")
    found = catalog(server)
    assert [(c.holder, c.copy.full_name) for c in found.copies] == [
        ("Test.AServer", "Test.Req"), ("Test.AServer", "Test.BServant")]
    assert problems(server) == []
    assert found.clients("Test.BServer") == {"Test.AServer": [
        "copy of Test.Req in services/Test/AServer/BServant.tars",
        "copy of Test.BServant in services/Test/AServer/BServant.tars"]}


def test_an_include_of_the_owners_file_makes_a_client(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n"
                                      "build:\n  inputs: [services/Test/BServer/BServant.tars]\n")
    server.write("services/Test/AServer/A.tars", '#include "../BServer/BServant.tars"\n'
                                                 "module Test { interface A { int f(Req r); }; };\n")
    found = catalog(server)
    assert found.includes == {"Test.AServer": {"services/Test/BServer/BServant.tars": "services/Test/AServer/A.tars"}}
    assert found.definition_clients("Test.BServant") == {"Test.AServer": [
        "includes services/Test/BServer/BServant.tars (services/Test/AServer/A.tars)"]}
    assert problems(server) == []


def test_a_tars_file_that_does_not_parse_is_a_located_error(server):
    server.write("services/Test/BServer/Broken.tars", "module Test { interface X { int f( }; };\n")
    assert len(problems(server)) == 1
    assert problems(server)[0].startswith("services/Test/BServer/Broken.tars:1:")


def test_parsed_files_are_cached_by_content_and_the_cache_never_hides_a_change(server, tmp_path, monkeypatch):
    from tars_tasks.interfaces import catalog as idl_catalog

    project = server.load()
    cache_file = tmp_path / "cache" / "interfaces.json"
    first = load(project.settings.root, "services", project.services, cache_file=cache_file)
    assert list(json.loads(cache_file.read_text())["files"]) == ["services/Test/BServer/BServant.tars"]
    parsed: list[str] = []
    real = idl_catalog.parse_files
    monkeypatch.setattr(idl_catalog, "parse_files", lambda root, paths: (parsed.extend(paths), real(root, paths))[1])
    second = load(project.settings.root, "services", project.services, cache_file=cache_file)
    assert parsed == [] and second.files == first.files  # nothing parsed: the same model
    server.write("services/Test/BServer/BServant.tars", HELLO.replace("int queryResult", "long queryResult"))
    third = load(project.settings.root, "services", project.services, cache_file=cache_file)
    assert parsed == ["services/Test/BServer/BServant.tars"]
    assert third.owners["Test.BServant"].interface.methods[0].ret == "long"
    cache_file.write_text("{not json")  # a broken cache is ignored
    assert load(project.settings.root, "services", project.services, cache_file=cache_file).files == third.files


def test_a_type_neither_defined_nor_included_is_located(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n")
    server.write("services/Test/AServer/A.tars", "module Test { interface A { int f(Req r); }; };\n")
    assert problems(server) == ["services/Test/AServer/A.tars:1:35: method f: parameter r: type Test.Req is not "
                                "defined in this file or a file it includes"]


def test_an_include_outside_the_folder_must_be_a_build_input(server):
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n")
    server.write("services/Test/AServer/A.tars", '#include "../BServer/BServant.tars"\n'
                                                 "module Test { interface A { int f(Req r); }; };\n")
    assert problems(server) == [
        "services/Test/AServer/A.tars:1:1: warning: includes services/Test/BServer/BServant.tars, outside Test.AServer's "
        "folder: list it in build.inputs (services/Test/AServer/values.yaml) so the image build sees it and a change "
        "to it rebuilds the image"]
    server.service("Test", "AServer", "servants:\n  - name: AObj\n    port: 10000\n"
                                      "build:\n  inputs: [services/Test/BServer]\n")
    assert problems(server) == []


def test_a_tars_symlink_out_of_the_repository_is_never_read(server, tmp_path):
    secret = tmp_path / "secret.tars"
    secret.write_text("root:x:0:0:do-not-show\n")
    (server.root / "services/Test/BServer/Leak.tars").symlink_to(secret)
    assert problems(server) == [
        "services/Test/BServer/Leak.tars:1:1: resolves outside the repository (a symlink): not read"]
