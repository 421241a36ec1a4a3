"""Who calls whom: object names found in a service's files (ignoring case, first use located), the warning
for a call missing from dependsOn, `graph` as DOT that Graphviz draws, and `graph --suggest`."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from support import Monorepo, init_git
from tars_tasks.interfaces.calls import MAX_SOURCE_BYTES
from tars_tasks.interfaces.checks import validate_interfaces
from tars_tasks.interfaces.graph import build, service_calls, suggest, to_dot


@pytest.fixture
def shop(repo: Monorepo) -> Monorepo:
    repo.service("Base", "LogServer", "servants:\n  - name: LogObj\n    port: 10000\n")
    repo.service("Base", "HelloServer", "servants:\n  - name: HelloObj\n    port: 10001\ndependsOn: [Base.LogServer]\n")
    repo.service("Shop", "CartServer", "servants:\n  - name: CartObj\n    port: 10002\ndependsOn: [Base.LogServer]\n")
    repo.write("services/Shop/CartServer/src/cart.cpp",
               "#include <x>\n"
               "// self: Shop.CartServer.CartObj is ours, not a call\n"
               "auto p = comm->stringToProxy<HelloPrx>(\"base.HELLOSERVER.helloobj\");\n"
               "auto q = comm->stringToProxy<HelloPrx>(\"Base.HelloServer.HelloObj\");\n")
    repo.write("services/Shop/CartServer/a.js", 'log("Base.LogServer.LogObj@tcp -h 1.2.3.4 -p 10000")\n')
    return repo


def calls(repo: Monorepo):
    project = repo.load()
    return service_calls(repo.root, "services", project.services)


def test_calls_are_found_ignoring_case_with_the_first_use_located(shop):
    assert [(c.caller, c.callee, c.servant, c.written, c.where()) for c in calls(shop)] == [
        ("Shop.CartServer", "Base.LogServer", "LogObj", "Base.LogServer.LogObj", "services/Shop/CartServer/a.js:1:6"),
        ("Shop.CartServer", "Base.HelloServer", "HelloObj", "base.HELLOSERVER.helloobj",
         "services/Shop/CartServer/src/cart.cpp:3:41")]


def test_only_tracked_text_files_of_at_most_1_mib_are_scanned(shop):
    folder = "services/Base/HelloServer"
    shop.write(f"{folder}/blob.bin", b"\0\1Base.LogServer.LogObj")
    shop.write(f"{folder}/huge.txt", "x" * MAX_SOURCE_BYTES + " Shop.CartServer.CartObj\n")
    shop.write(f"{folder}/main.cpp", "int main() { return 0; }  // Shop.CartServer.CartObj\n")
    init_git(shop.root)
    shop.write(f"{folder}/scratch.cpp", "Base.LogServer.LogObj\n")  # not tracked
    assert [(c.caller, c.callee, c.file) for c in calls(shop) if c.caller == "Base.HelloServer"] == [
        ("Base.HelloServer", "Shop.CartServer", f"{folder}/main.cpp")]


def test_validate_warns_at_the_calling_line_when_dependsOn_lacks_the_callee(shop):
    project = shop.load()
    found = [str(p) for p in validate_interfaces(project.settings, project.services, project.services)]
    assert found == [
        "services/Shop/CartServer/src/cart.cpp:3:41: warning: Shop.CartServer calls base.HELLOSERVER.helloobj but "
        "Base.HelloServer is not in its dependsOn (services/Shop/CartServer/values.yaml): the deploy order cannot be "
        "trusted; add it (see `invoke graph --suggest`)"]
    assert all(p.warning for p in validate_interfaces(project.settings, project.services, project.services))
    # --service of another service does not show it
    others = [s for s in project.services if s.id != "Shop.CartServer"]
    assert validate_interfaces(project.settings, project.services, others) == []


def test_suggest_prints_the_dependsOn_that_matches_the_calls(shop):
    shop.service("Base", "AuthServer", "servants:\n  - name: AuthObj\n    port: 10003\n")
    project = shop.load()
    graph = build(project.services, calls(shop))
    suggestions, cycles = suggest(graph)
    assert [(s.service, s.depends_on, [c.callee for c in s.added], s.uncalled) for s in suggestions] == [
        ("Shop.CartServer", ["Base.LogServer", "Base.HelloServer"], ["Base.HelloServer"], [])]
    assert cycles == []


def test_suggest_names_a_cycle_the_calls_would_make(shop):
    shop.write("services/Base/LogServer/log.go", 'const cart = "Shop.CartServer.CartObj"\n')
    project = shop.load()
    _, cycles = suggest(build(project.services, calls(shop)))
    # HelloServer -> LogServer (declared) -> CartServer (the new call) -> HelloServer (called); and
    # LogServer -> CartServer (the new call) -> LogServer (declared)
    assert cycles == [["Base.HelloServer", "Base.LogServer", "Shop.CartServer"], ["Base.LogServer", "Shop.CartServer"]]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by scripts/setup.sh")
def test_graph_dot_is_drawn_by_graphviz(shop):
    project = shop.load()
    dot = to_dot(build(project.services, calls(shop)))
    assert '"Shop.CartServer" -> "Base.HelloServer" [color=red, fontcolor=red, label="called, not in dependsOn"];' in dot
    assert '"Base.HelloServer" -> "Base.LogServer" [style=dashed, label="declared, no call found"];' in dot
    assert '"Shop.CartServer" -> "Base.LogServer";' in dot
    drawn = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
    assert drawn.returncode == 0, drawn.stderr
    assert "<svg" in drawn.stdout and "Shop.CartServer" in drawn.stdout


def _validate_one(repo: Monorepo, sid: str) -> list[str]:
    from tars_tasks.project import Project

    project = Project.load_selected(repo.settings(), [sid])
    return [str(p) for p in project.check(project.select([sid]), render=False)]


def _validate_all_then_keep(repo: Monorepo, sid: str) -> list[str]:
    """What a validate of every service says in the files of ``sid``'s folder."""
    from tars_tasks.project import Project

    project = Project.load(repo.settings())
    folder = str(project.select([sid])[0].dir.relative_to(repo.root)) + "/"
    return [str(p) for p in project.check(project.select([]), render=False) if p.file.startswith(folder)]


def test_a_repository_without_tars_files_has_no_interface_pass(shop):
    init_git(shop.root)
    assert _validate_all_then_keep(shop, "Shop.CartServer") == []  # the call is there, the interfaces are not
    shop.write("services/Base/LogServer/Log.tars", "module Base { interface Log { int log(string s); }; };\n")
    subprocess.run(["git", "add", "-A"], cwd=shop.root, check=True)
    assert [p.split(": warning: ")[1][:51] for p in _validate_all_then_keep(shop, "Shop.CartServer")] == [
        "Shop.CartServer calls base.HELLOSERVER.helloobj but"]


def test_one_service_without_tars_files_gets_the_call_warning_without_reading_every_values_file(shop, monkeypatch):
    shop.write("services/Base/LogServer/Log.tars", "module Base { interface Log { int log(string s); }; };\n")
    init_git(shop.root)
    for i in range(20):
        shop.service("Other", f"S{i}")
    expected = _validate_all_then_keep(shop, "Shop.CartServer")
    assert len(expected) == 1 and "calls base.HELLOSERVER.helloobj" in expected[0]
    from tars_tasks.core import services

    read: list[str] = []
    real = services.read_values
    monkeypatch.setattr(services, "read_values", lambda path, *a: read.append(str(path)) or real(path, *a))
    assert _validate_one(shop, "Shop.CartServer") == expected
    assert not any("/Other/" in path for path in read)  # nor do the interface checks read the others


def test_one_service_with_a_tars_file_gets_the_whole_check(shop):
    shop.write("services/Base/HelloServer/Hello.tars", "module Base { interface Hello { int hi(int a); }; };\n")
    shop.write("services/Shop/CartServer/Hello.tars", "module Base { interface Hello { int hi(int a, int b); }; };\n")
    init_git(shop.root)
    expected = _validate_all_then_keep(shop, "Shop.CartServer")
    assert any("stale copy" in p for p in expected) and any("calls base.HELLOSERVER.helloobj" in p for p in expected)
    assert _validate_one(shop, "Shop.CartServer") == expected
