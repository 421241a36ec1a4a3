"""`invoke graph`, `invoke interfaces` and the breaking-change gate of `release`, end to end on the sample
monorepo (Base.HelloServer serves Base.Hello; Shop.CartServer keeps a copy, Shop.PayServer includes it)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from support import init_git

HELLO = "services/Base/HelloServer/Hello.tars"


@pytest.fixture
def repo(sample):
    init_git(sample.root)
    return sample


def test_interfaces_lists_owner_and_clients_of_the_sample(repo):
    result = repo("interfaces", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    hello = next(r for r in report["interfaces"] if r["interface"] == "Base.Hello")
    assert (hello["owner"], hello["file"]) == ("Base.HelloServer.HelloObj", HELLO)
    assert hello["clients"] == [
        {"service": "Shop.CartServer", "how": ["copy in services/Shop/CartServer/Hello.tars:6",
                                               "calls Base.HelloServer.HelloObj at services/Shop/CartServer/index.js:4:20"]},
        {"service": "Shop.PayServer", "how": [f"includes {HELLO} (services/Shop/PayServer/Pay.tars)",
                                              "calls base.helloserver.helloobj at services/Shop/PayServer/index.php:3:75"]}]
    assert report["problems"] == []
    text = repo("interfaces").stdout.splitlines()
    assert [line.split() for line in text[:3]] == [
        ["INTERFACE", "OWNER", "DEFINED", "AT", "CLIENT", "HOW"],
        ["Base.Hello", "Base.HelloServer.HelloObj", f"{HELLO}:11", "Shop.CartServer", "copy", "in",
         "services/Shop/CartServer/Hello.tars:6"],
        ["Shop.CartServer", "calls", "Base.HelloServer.HelloObj", "at", "services/Shop/CartServer/index.js:4:20"]]


def test_graph_json_has_declared_and_called_side_by_side(repo):
    result = repo("graph", "--format", "json")
    assert result.returncode == 0, result.stderr
    cart = next(s for s in json.loads(result.stdout)["services"] if s["id"] == "Shop.CartServer")
    assert cart == {"id": "Shop.CartServer", "file": "services/Shop/CartServer/values.yaml", "edges": [
        {"service": "Base.AuthServer", "declared": True, "called": False},
        {"service": "Base.HelloServer", "declared": True, "called": True, "object": "Base.HelloServer.HelloObj",
         "file": "services/Shop/CartServer/index.js", "line": 4, "col": 20}]}


def test_interfaces_check_exits_1_on_a_breaking_change_only(repo):
    path = repo.root / HELLO
    original = path.read_text()
    path.write_text(original.replace("int test();", "int test();\n        int ping(int n);"))
    compatible = repo("interfaces", "--since", "HEAD", "--check")
    assert compatible.returncode == 0, compatible.stderr
    assert "  compatible  Base.Hello.ping: method ping added" in compatible.stdout
    path.write_text(original.replace("int testHello(string sReq, out string sRsp);", "int testHello(string sReq);"))
    breaking = repo("interfaces", "--since", "HEAD", "--check")
    assert breaking.returncode == 1
    assert "  breaking    Base.Hello.testHello: method testHello: parameter 2 (out string sRsp) removed" in breaking.stdout
    assert "1 breaking interface change(s) since HEAD" in breaking.stderr
    assert "Traceback" not in breaking.stderr
    path.write_text(original.replace("int testHello(string sReq, out string sRsp);", "int testHello(out string sRsp);"))
    first = repo("interfaces", "--since", "HEAD", "--check")
    assert first.returncode == 1
    assert [line for line in first.stdout.splitlines() if line.startswith("  breaking")] == [
        f"  breaking    Base.Hello.testHello: method testHello: parameter 1 (string sReq) removed  "
        f"({HELLO}, owner Base.HelloServer)"]


def test_validate_names_the_stale_copy_and_the_undeclared_call(repo):
    hello = repo.root / HELLO
    hello.write_text(hello.read_text().replace("int test();", "int test(int n);"))
    gateway = repo.root / "services/Shop/WebGateway/server.js"
    gateway.write_text(gateway.read_text() + '// health of the carts: "Shop.CartServer.CartObj"\n')
    result = repo("validate", "--no-render")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "services/Shop/CartServer/Hello.tars:6:15: Base.Hello is a stale copy of services/Base/HelloServer/Hello.tars:11 "
        "(owned by Base.HelloServer), which differs: method test: parameter 1 (int n) added",
        "services/Shop/WebGateway/server.js:6:26: warning: Shop.WebGateway calls Shop.CartServer.CartObj but "
        "Shop.CartServer is not in its dependsOn (services/Shop/WebGateway/values.yaml): the deploy order cannot be "
        "trusted; add it (see `invoke graph --suggest`)"]
    suggest = repo("graph", "--suggest")
    assert suggest.stdout == ("# services/Shop/WebGateway/values.yaml\ndependsOn:\n"
                              "  - Shop.OrderServer  # declared, no call found\n"
                              "  - Shop.PayServer  # declared, no call found\n"
                              "  - Shop.CartServer  # new: calls Shop.CartServer.CartObj at "
                              "services/Shop/WebGateway/server.js:6:26\n")
    as_json = repo("graph", "--suggest", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {"cycles": [], "suggestions": [{
        "service": "Shop.WebGateway", "file": "services/Shop/WebGateway/values.yaml",
        "dependsOn": ["Shop.OrderServer", "Shop.PayServer", "Shop.CartServer"],
        "added": [{"service": "Shop.CartServer", "object": "Shop.CartServer.CartObj",
                   "file": "services/Shop/WebGateway/server.js", "line": 6, "col": 26}],
        "uncalled": ["Shop.OrderServer", "Shop.PayServer"]}]}
    for drawing in ("dot", "svg"):
        refused = repo("graph", "--suggest", "--format", drawing)
        assert refused.returncode == 2 and refused.stdout == ""
        assert (f"--suggest prints dependsOn lists, not a drawing: use it with --format text or json, "
                f"not --format {drawing}") in refused.stderr


def test_release_refuses_a_breaking_change_its_clients_are_not_released_with(repo):
    hello = repo.root / HELLO
    hello.write_text(hello.read_text().replace("int testHello(string sReq, out string sRsp);",
                                               "int testHello(string sReq);"))
    result = repo("release", "--since", "HEAD", "--service", "Base.HelloServer", "--dry-run")
    assert result.returncode == 2
    assert ("Base.HelloServer: breaking change to Base.Hello since HEAD (method testHello: parameter 2 (out string sRsp) removed "
            "in services/Base/HelloServer/Hello.tars) but its clients Shop.CartServer, Shop.PayServer are not in this "
            "release") in result.stderr
    assert "--allow-breaking" in result.stderr and "Traceback" not in result.stderr
    plan = repo("plan", "--since", "HEAD", "--service", "Base.HelloServer", "--dry-run")
    assert plan.returncode == 0
    assert "note: breaking interface change: Base.HelloServer: breaking change to Base.Hello" in plan.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is installed by scripts/setup.sh")
def test_graph_dot_parses_with_graphviz_and_svg_is_drawn(repo):
    dot = repo("graph", "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert '"Shop.CartServer" -> "Base.HelloServer";' in dot.stdout
    drawn = subprocess.run(["dot", "-Tsvg"], input=dot.stdout, capture_output=True, text=True, timeout=60)
    assert drawn.returncode == 0, drawn.stderr
    svg = repo("graph", "--format", "svg")
    assert svg.returncode == 0 and svg.stdout.lstrip().startswith("<?xml") and "Base.HelloServer" in svg.stdout


def test_graph_svg_without_graphviz_is_a_clear_error(repo, tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    os.symlink(shutil.which("git"), bare / "git")
    result = repo("graph", "--format", "svg", env={"PATH": str(bare)})
    assert result.returncode == 2
    assert "graph --format svg needs Graphviz's `dot` on PATH" in result.stderr
    assert repo("graph", "--format", "png").returncode == 2


def test_a_saved_plan_that_breaks_a_copy_is_refused_too(repo):
    hello = repo.root / HELLO
    hello.write_text(hello.read_text().replace("int test();", ""))  # CartServer's copy still has test()
    saved = repo("plan", "--dry-run", "--service", "Base.HelloServer", "--out", "plan.json")
    assert saved.returncode == 0, saved.stderr
    result = repo("release", "--plan", "plan.json", "--dry-run")
    assert result.returncode == 2
    assert ("Base.HelloServer: Base.Hello in services/Base/HelloServer/Hello.tars breaks the copy Shop.CartServer "
            "builds with (services/Shop/CartServer/Hello.tars: method test removed)") in result.stderr


def test_deploy_refuses_a_server_that_breaks_a_copy_unless_allow_breaking(repo):
    hello = repo.root / HELLO
    hello.write_text(hello.read_text().replace("int test();", ""))
    refused = repo("deploy", "--service", "Base.HelloServer", "--dry-run")
    assert refused.returncode == 2
    assert "refusing to release a breaking interface change" in refused.stderr
    allowed = repo("deploy", "--service", "Base.HelloServer", "--dry-run", "--allow-breaking")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "refusing" not in allowed.stderr
    assert "note: breaking interface change: Base.HelloServer: Base.Hello" in allowed.stderr  # the plan says so


def test_validate_of_one_service_sees_the_calls_and_owners_of_every_service(repo):
    """`validate --service X` reads only the values files X's rules need (Base.LogServer depends on nothing), but
    the interface checks need every service's servants: a call to one outside that set is still found."""
    (repo.root / "services/Base/LogServer/alerts.py").write_text('CARTS = "Shop.CartServer.CartObj"\n')
    subprocess.run(["git", "add", "services/Base/LogServer/alerts.py"], cwd=repo.root, check=True)
    result = repo("validate", "--no-render", "--service", "Base.LogServer")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "services/Base/LogServer/alerts.py:1:10: warning: Base.LogServer calls Shop.CartServer.CartObj but "
        "Shop.CartServer is not in its dependsOn (services/Base/LogServer/values.yaml): the deploy order cannot be "
        "trusted; add it (see `invoke graph --suggest`)"]


def test_a_tars_file_that_does_not_parse_is_never_compared_and_refuses_plan_and_release(repo):
    """Nothing was removed: the file does not parse. `interfaces` says where and exits 1; plan and release
    refuse before any work, and --allow-breaking does not let a syntax error through."""
    hello = repo.root / HELLO
    hello.write_text(hello.read_text().replace("int test();", "int test(;"))
    located = "services/Base/HelloServer/Hello.tars:13:18: unexpected ';'"
    check = repo("interfaces", "--since", "HEAD", "--check")
    assert check.returncode == 1
    assert "removed" not in check.stdout and "added" not in check.stdout
    assert f"note: {HELLO} does not parse ({located}" in check.stdout
    assert located in check.stderr and "Traceback" not in check.stderr
    listing = repo("interfaces")
    assert listing.returncode == 1
    assert located in listing.stderr and "1 problem(s) in .tars files" in listing.stderr
    plan = repo("plan", "--since", "HEAD", "--dry-run")
    assert plan.returncode == 1
    assert located in plan.stderr and "Traceback" not in plan.stderr
    release = repo("release", "--since", "HEAD", "--dry-run", "--allow-breaking")
    assert release.returncode == 1
    assert located in release.stderr
    deploy = repo("deploy", "--service", "Shop.PayServer", "--dry-run")  # it includes the broken file
    assert deploy.returncode == 1 and located in deploy.stderr
    other = repo("plan", "--service", "Base.AuthServer", "--dry-run")  # neither has nor includes it
    assert other.returncode == 0, other.stderr


def test_a_tars_file_that_did_not_parse_at_the_base_is_not_compared(repo):
    hello = repo.root / HELLO
    good = hello.read_text()
    hello.write_text(good.replace("int test();", "int test(;"))
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "broken"], cwd=repo.root, check=True)
    hello.write_text(good)
    result = repo("interfaces", "--since", "HEAD", "--check")
    assert result.returncode == 0, result.stderr
    assert "added" not in result.stdout
    assert f"note: {HELLO} at HEAD does not parse (services/Base/HelloServer/Hello.tars:13:18: unexpected ';'" \
        in result.stdout


def test_interfaces_since_a_missing_ref_is_the_plan_message_not_shallow_in_a_full_clone(repo):
    full = repo("interfaces", "--since", "nosuchref")
    assert full.returncode == 2
    assert "--since nosuchref: no such commit in this clone." in full.stderr
    assert "shallow" not in full.stderr
    plan = repo("plan", "--since", "nosuchref", "--dry-run")
    assert plan.returncode == 2 and "--since nosuchref: no such commit in this clone." in plan.stderr


def test_release_reports_bad_values_and_a_tars_file_that_does_not_parse_in_one_run(repo):
    values = repo.root / "services/Shop/CartServer/values.yaml"
    values.write_text(values.read_text().replace("port: 11000", "port: 70000", 1))
    hello = repo.root / HELLO
    hello.write_text(hello.read_text() + "int x(;\n")
    result = repo("release", "--all", "--dry-run")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[-1] == "2 problem(s) found"
    assert lines[0].startswith("services/Shop/CartServer/values.yaml:") and "70000 is greater than 65535" in lines[0]
    assert lines[1].startswith(f"{HELLO}:") and "unexpected 'int'" in lines[1]
    assert not (repo.root / "dist" / "charts").exists()
