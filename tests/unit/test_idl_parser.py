"""The TARS IDL parser: a corpus of real-world .tars files, the model it builds, and located errors."""
from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from support import REPO_ROOT, init_git
from tars_tasks.core.errors import InputError, Problem
from tars_tasks.interfaces.model import Const, Enum, Field, Include, Interface, Method, Param, Struct
from tars_tasks.interfaces.parser import parse_files, parse_text, tracked_idl_files
from tars_tasks.interfaces.references import undefined_types, user_types

CORPUS = REPO_ROOT / "tests" / "data" / "idl"
CORPUS_FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*") if p.suffix in (".tars", ".jce"))


def parse(text: str, path: str = "x.tars"):
    return parse_text(textwrap.dedent(text), path)


def errors(text: str, path: str = "x.tars") -> list[str]:
    with pytest.raises(InputError) as caught:
        parse(text, path)
    return [str(p) for p in caught.value.problems]


def corpus(rel: str):
    return parse_text((CORPUS / rel).read_text(encoding="utf-8"), rel)


# ---- the corpus ----------------------------------------------------------------------------------------------

def test_corpus_holds_files_from_every_listed_repository():
    repos = {f.split("/")[0] for f in CORPUS_FILES}
    assert len(CORPUS_FILES) >= 30
    assert repos == {"TarsProtocol", "TarsCpp", "TarsGo", "TarsJava", "TarsGateway", "TarsBenchmark"}
    licences = (CORPUS / "LICENSES.md").read_text(encoding="utf-8")
    for repo in repos:
        assert f"https://github.com/TarsCloud/{repo} " in licences


@pytest.mark.parametrize("rel", CORPUS_FILES)
def test_every_corpus_file_parses(rel):
    parsed = corpus(rel)
    assert parsed.path == rel
    assert list(parsed.definitions())
    for definition in parsed.definitions():
        assert definition.file == rel and definition.module


def test_every_corpus_file_reads_back_from_the_parse_cache_as_it_was_parsed():
    import json

    from tars_tasks.interfaces.cache import _as_json, _decode

    for rel in CORPUS_FILES:
        parsed = corpus(rel)
        assert _decode(json.loads(json.dumps(parsed, default=_as_json))) == parsed, rel


def test_corpus_includes_resolve_relative_to_the_including_file():
    files, problems = parse_files(CORPUS, CORPUS_FILES)
    assert len(files) == len(CORPUS_FILES)
    # two real files name an include that their build finds through an include path (-I), not beside them
    assert [str(p) for p in problems] == [
        'TarsGo/examples/Tars2Go/demo.tars:1:1: warning: #include "demo1.tars": no such file '
        "TarsGo/examples/Tars2Go/demo1.tars",
        'TarsProtocol/framework/RegistryDescriptor.tars:17:1: warning: #include "EndpointF.tars": no such file '
        "TarsProtocol/framework/EndpointF.tars"]
    by_path = {f.path: f for f in files}
    assert by_path["TarsProtocol/framework/Registry.tars"].includes == (
        Include("NodeDescriptor.tars", "TarsProtocol/framework/NodeDescriptor.tars", 17, 1),
        Include("RegistryDescriptor.tars", "TarsProtocol/framework/RegistryDescriptor.tars", 18, 1))
    assert by_path["TarsBenchmark/src/server/AdminServer/Admin.tars"].includes == (
        Include("../NodeServer/Node.tars", "TarsBenchmark/src/server/NodeServer/Node.tars", 14, 1),)


def test_registry_node_descriptor_structs_and_enum():
    parsed = corpus("TarsProtocol/framework/NodeDescriptor.tars")
    assert [s.name for s in parsed.structs] == ["LoadInfo", "PatchInfo", "NodeInfo", "ReportNode", "ServerStateInfo",
                                                "PatchRequest"]
    path = "TarsProtocol/framework/NodeDescriptor.tars"
    assert parsed.structs[0] == Struct("tars", "LoadInfo", (
        Field(0, True, "float", "avg1", None, 32),
        Field(1, True, "float", "avg5", None, 34),
        Field(2, True, "float", "avg15", None, 36),
        Field(3, False, "int", "avgCpu", None, 38)), (), path, 29, 12)
    patch = parsed.structs[1]
    assert [(f.tag, f.required, f.type, f.name, f.default) for f in patch.fields] == [
        (0, True, "bool", "bPatching", "false"), (1, True, "int", "iPercent", None),
        (2, True, "int", "iModifyTime", None), (3, True, "string", "sVersion", None),
        (4, True, "string", "sResult", None), (5, False, "bool", "bSucc", "false")]
    state = parsed.structs[4]
    assert [(f.type, f.name) for f in state.fields if f.tag in (0, 5, 6)] == [
        ("tars.ServerState", "serverState"), ("tars.ServerState", "settingState"),
        ("map<string, string>", "exState")]
    assert parsed.enums == (Enum("tars", "ServerState", (("Inactive", 0), ("Activating", 1), ("Active", 2),
                                                         ("Deactivating", 3), ("Destroying", 4), ("Destroyed", 5)),
                                 path, 19, 10),)


def test_query_interface_methods_with_out_params_and_included_types():
    parsed = corpus("TarsProtocol/servant/QueryF.tars")
    (query,) = parsed.interfaces
    assert query.full_name == "tars.QueryF"
    assert [m.name for m in query.methods] == [
        "findObjectById", "findObjectById4Any", "findObjectById4All", "findObjectByIdInSameGroup",
        "findObjectByIdInSameStation", "findObjectByIdInSameSet", "findObjectNodeName", "registerChange",
        "registerQuery", "getLocker"]
    assert query.methods[0].ret == "vector<tars.EndpointF>"
    assert query.methods[1] == Method("findObjectById4Any", "int", (
        Param("id", "string", out=False, routekey=False),
        Param("activeEp", "vector<tars.EndpointF>", out=True, routekey=False),
        Param("inactiveEp", "vector<tars.EndpointF>", out=True, routekey=False)), query.methods[1].line)
    assert query.methods[7].params[0].type == "map<string, string>"
    assert query.methods[9].params == (Param("req", "tars.GetMasterSlaveLock", False, False),)


def test_routekey_unsigned_types_and_key():
    parsed = corpus("TarsCpp/unit-test/server/Hello.tars")
    (hello,) = parsed.interfaces
    dyeing = next(m for m in hello.methods if m.name == "testDyeing")
    assert dyeing.params == (Param("strIn", "string", out=False, routekey=True),
                             Param("strOut", "string", out=True, routekey=False))
    data = next(s for s in parsed.structs if s.name == "JsonData")
    assert [f.type for f in data.fields if f.tag in (6, 7, 8, 10, 12)] == [
        "unsigned byte", "unsigned short", "unsigned int", "Test.EN_KEY", "map<Test.EN_KEY, string>"]
    assert next(s for s in parsed.structs if s.name == "JsonKey").key == ("i",)
    endpoint = corpus("TarsProtocol/servant/EndpointF.tars").structs[0]
    assert endpoint.key == ("host", "port", "timeout", "istcp", "grid", "qos", "weight", "weightType", "authType")


def test_scoped_types_and_a_module_opened_twice():
    parsed = corpus("TarsGo/examples/Tars2Go/demo.tars")
    assert [s.full_name for s in parsed.structs] == ["DemoV1.DemoV1", "DemoV2.DemoRoom", "DemoV1.DemoV11"]
    (v3,) = parsed.interfaces
    assert v3.full_name == "DemoV3.V3Test"
    assert v3.methods[0].params == (Param("sIn", "DemoV1.DemoV1", False, False),
                                    Param("sOut", "DemoV1.DemoV11", True, False))


def test_negative_enum_values_and_string_const_in_a_jce_file():
    parsed = corpus("TarsGateway/a1_HttpWupClient/Login.jce")
    assert parsed.enums[0].members == (("E_LOGIN_SUCC", 0), ("E_XUA_ERROR", -1), ("E_XUA_SN_UNCONF", -2),
                                       ("E_BUSS_ERR", -3))
    assert parsed.consts == (Const("Base", "EXT_KEY_QIMEI", "string", '"QIMEI"', parsed.path, 32, 15),)


# ---- the grammar on its own ----------------------------------------------------------------------------------

def test_everything_the_grammar_knows_in_one_file():
    parsed = parse("""\
        #include "Other.tars"
        /* a block comment
           over lines */
        module Test
        {
            enum Color { RED, GREEN = 5, BLUE, ALIAS = RED, HEX = 0x10, OCT = 010, };
            const int MAX = -3;
            const double RATIO = 1.5e3;
            const float SMALL = .5f;
            const bool ON = true;
            const string NAME = "a \\"quoted\\" name";
            struct Foo
            {
                0 require int interval = 1;          // `int` prefix: still a name
                1 optional vector<map<string, vector<Other::Bar>>> outer;
                2 optional Color c = Color::GREEN;
                3 optional long mapping = 0x7f
            };
            key[Foo, interval, mapping];
            interface BServant
            {
                int queryResult(string sIn, out string sOut);
                void ping();
                Foo get(routekey long id, out map<int, Foo> all)
            };
        }
        """)
    assert parsed.includes == (Include("Other.tars", None, 1, 1),)
    assert parsed.enums[0].members == (("RED", 0), ("GREEN", 5), ("BLUE", 6), ("ALIAS", 0), ("HEX", 16), ("OCT", 8))
    assert [(c.name, c.type, c.value) for c in parsed.consts] == [
        ("MAX", "int", "-3"), ("RATIO", "double", "1.5e3"), ("SMALL", "float", ".5"), ("ON", "bool", "true"),
        ("NAME", "string", '"a \\"quoted\\" name"')]
    (foo,) = parsed.structs
    assert foo.fields == (Field(0, True, "int", "interval", "1", 14),
                          Field(1, False, "vector<map<string, vector<Other.Bar>>>", "outer", None, 15),
                          Field(2, False, "Test.Color", "c", "GREEN", 16),
                          Field(3, False, "long", "mapping", "127", 17))
    assert foo.key == ("interval", "mapping") and foo.line == 12
    (servant,) = parsed.interfaces
    assert servant == Interface("Test", "BServant", (
        Method("queryResult", "int", (Param("sIn", "string", False, False), Param("sOut", "string", True, False)), 22),
        Method("ping", "void", (), 23),
        Method("get", "Test.Foo", (Param("id", "long", False, True), Param("all", "map<int, Test.Foo>", True, False)),
               24)), "x.tars", 20, 15)
    assert [d.name for d in parsed.definitions()] == ["Color", "MAX", "RATIO", "SMALL", "ON", "NAME", "Foo", "BServant"]


def test_formatting_and_comments_do_not_change_the_model_but_lines():
    compact = parse("module M{struct S{0 require vector<int> v;1 optional string s=\"x\";};interface I{int f(int a,out string b);};};")
    spread = parse("""\
        // header
        module M
        {
            struct S
            {
                0   require   vector < int >  v ;   /* inline */
                1 optional string s = "x";
            };

            interface I { int f( int a , out string b ) ; };
        };
        """)
    assert [f.type for f in compact.structs[0].fields] == [f.type for f in spread.structs[0].fields]
    assert compact.interfaces[0].methods[0].params == spread.interfaces[0].methods[0].params
    assert (compact.structs[0].line, spread.structs[0].line) == (1, 4)


# ---- located errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("module A { struct S { 0 require int a; }", "x.tars:1:41: unexpected end of file, expected one of ';', '}'"),
    ("module A {\n  struct S { 0 require int a }\n  struct T { 0 require int b; };\n};",
     "x.tars:3:3: unexpected 'struct', expected one of ';', '}'"),
    ("module A { struct S { 0 require int a; }; module B {}; };",
     "x.tars:1:43: unexpected 'module', expected one of 'const', 'enum', 'interface', 'key', 'struct', '}'"),
    ("struct S { 0 require int a; };",
     "x.tars:1:1: unexpected 'struct', expected one of #include \"file\", 'module', end of file"),
    ("module A { struct S { require int a; }; };", "x.tars:1:23: unexpected 'require', expected one of '}', an integer"),
    ("module A { struct S { 0 require vector<int a; }; };", "x.tars:1:44: unexpected 'a', expected '>'"),
    ("module A { interface I { int f(int a; }; };", "x.tars:1:37: unexpected ';', expected one of ')', ','"),
    ("module A { /* never closed\n };", "x.tars:1:12: comment not closed: '/*' without '*/'"),
    ('module A { const string S = "open\n"; };', "x.tars:1:29: string not closed before the end of the line"),
    ("module A { struct S { 0 require int a$; }; };", "x.tars:1:38: unexpected character '$', expected one of ';', '=', '}'"),
])
def test_syntax_errors_are_located(text, expected):
    assert errors(text) == [expected]


def test_keywords_are_reserved_as_in_tars2cpp():
    assert errors("module A { struct S { 0 require int key; }; };") == [
        "x.tars:1:37: unexpected 'key', expected a name"]
    assert errors("module A { interface I { void out(); }; };") == [
        "x.tars:1:31: unexpected 'out', expected a name"]


def test_a_bad_character_after_a_long_run_of_blanks_and_comments_fails_at_once():
    text = "module A {" + " \n" * 50_000 + "// c\n/* d */" * 1000 + "@"
    assert errors(text) == [f"x.tars:{50_000 + 1000 + 1}:8: unexpected character '@', expected one of "
                            "'const', 'enum', 'interface', 'key', 'struct', '}'"]


def test_checks_after_parsing_report_every_problem_of_a_file():
    assert errors("""\
        module A
        {
            struct S
            {
                0 require int a;
                0 optional string b;
                1 optional string a;
                300 optional int big;
                2 optional int n = "x";
                3 optional vector<int> v = 1;
                4 optional bool on = 1;
            };
            enum E { X, Y, X, Z = W };
            interface S { int f(int p, out string p); void f(); };
            key[S, a, nope];
            key[Missing, a];
            const string C = 5;
            struct T { 0 optional int n = 09; };
        };
        """, "svc/A.tars") == [
        "svc/A.tars:6:9: struct S: field b has tag 0, already used by field a",
        "svc/A.tars:7:27: struct S: field name a used twice",
        "svc/A.tars:8:9: field big: tag 300 is not between 0 and 255",
        'svc/A.tars:9:28: field n: type int takes an integer, not "x"',
        "svc/A.tars:10:36: field v: type vector<int> takes no value, not 1",
        "svc/A.tars:11:30: field on: type bool takes true or false, not 1",
        "svc/A.tars:13:20: enum E: value name X used twice",
        "svc/A.tars:13:27: enum E: value W is not a number or an enum value defined before it",
        "svc/A.tars:14:15: interface S: name already defined in module A (line 3)",
        "svc/A.tars:14:43: method f: parameter name p used twice",
        "svc/A.tars:14:52: interface S: method f defined twice (TARS has no overloads)",
        "svc/A.tars:15:15: key[S, ...]: struct S has no field nope",
        "svc/A.tars:16:9: key[Missing, ...]: no struct Missing in this module",
        "svc/A.tars:17:22: const C: type string takes a \"string\", not 5",
        "svc/A.tars:18:35: '09' is not a number (a leading 0 means octal)",
    ]


def test_an_integer_default_or_const_out_of_its_type_range_is_located():
    assert errors("""\
        module A
        {
            struct S
            {
                0 optional byte ok = -128;
                1 optional byte big = 1000;
                2 optional short s = 32768;
                3 optional int i = 0x80000000;
                4 optional long l = 9223372036854775808;
                5 optional unsigned byte ub = -1;
                6 optional unsigned short us = 65536;
                7 optional unsigned int ui = 4294967295;
                8 optional unsigned int uj = 4294967296;
            };
            const byte B = 128;
        };
        """, "svc/A.tars") == [
        "svc/A.tars:6:31: field big: 1000 is out of range for byte (-128 to 127)",
        "svc/A.tars:7:30: field s: 32768 is out of range for short (-32768 to 32767)",
        "svc/A.tars:8:28: field i: 2147483648 is out of range for int (-2147483648 to 2147483647)",
        "svc/A.tars:9:29: field l: 9223372036854775808 is out of range for long "
        "(-9223372036854775808 to 9223372036854775807)",
        "svc/A.tars:10:39: field ub: -1 is out of range for unsigned byte (0 to 255)",
        "svc/A.tars:11:40: field us: 65536 is out of range for unsigned short (0 to 65535)",
        "svc/A.tars:13:38: field uj: 4294967296 is out of range for unsigned int (0 to 4294967295)",
        "svc/A.tars:15:20: const B: 128 is out of range for byte (-128 to 127)",
    ]


def test_an_undefined_type_with_a_default_is_not_defined_located_at_the_type(tmp_path):
    write(tmp_path, "svc/G.tars", textwrap.dedent("""\
        module Base
        {
            enum Lang { EN };
            struct Greeting
            {
                0 require string text;
                1 optional strin lang = "en";
                2 optional Lang l = "en";
            };
            interface Hello
            {
                int f(string a,
                      Nope b);
            };
        };
        """))
    files, problems = parse_files(tmp_path, ["svc/G.tars"])
    assert [str(p) for p in problems] == [
        'svc/G.tars:8:29: field l: type Base.Lang takes an integer or an enum value, not "en"']
    write(tmp_path, "svc/G.tars", (tmp_path / "svc/G.tars").read_text().replace('l = "en"', "l = EN"))
    files, problems = parse_files(tmp_path, ["svc/G.tars"])
    assert problems == []
    assert [str(p) for p in undefined_types({f.path: f for f in files})] == [
        "svc/G.tars:7:20: struct Greeting: field lang: type Base.strin is not defined in this file or a file it "
        "includes",
        "svc/G.tars:13:15: method f: parameter b: type Base.Nope is not defined in this file or a file it includes"]


def test_same_name_in_two_blocks_of_one_module_is_a_duplicate():
    assert errors("module A { struct S { 0 require int a; }; };\nmodule B { struct S { 0 require int a; }; };\n"
                  "module A { enum S { X }; };") == [
        "x.tars:3:17: enum S: name already defined in module A (line 1)"]


# ---- files in a repository -----------------------------------------------------------------------------------

def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text, encoding="utf-8")


def test_parse_files_resolves_includes_and_warns_about_the_ones_it_cannot_check(tmp_path):
    root = tmp_path / "repo"
    write(root, "services/Test/BServer/BServant.tars", "module Test { interface BServant { void f(); }; };")
    write(tmp_path / "outside", "Secret.tars", "module S { struct X { 0 require int a; }; };")
    (root / "services" / "Test" / "Link.tars").symlink_to(tmp_path / "outside" / "Secret.tars")
    write(root, "services/Test/AServer/Client.tars", textwrap.dedent("""\
        #include "../BServer/BServant.tars"
        #include "/usr/local/tars/cpp/include/servant/EndpointF.tars"
        #include "../../../../outside/Secret.tars"
          #include "../Link.tars"
        #include "Missing.tars"
        module Test { struct Q { 0 require int a; }; };
        """))
    write(root, "services/Test/Broken.tars", "module Test { struct Q { 0 require int a }; ")
    files, problems = parse_files(root, ["services/Test/AServer/Client.tars", "services/Test/Broken.tars",
                                         "services/Test/BServer/BServant.tars", "services/Test/Gone.tars"])
    assert [f.path for f in files] == ["services/Test/AServer/Client.tars", "services/Test/BServer/BServant.tars"]
    assert [i.resolved for i in files[0].includes] == ["services/Test/BServer/BServant.tars", None, None, None, None]
    assert [str(p) for p in problems] == [
        'services/Test/AServer/Client.tars:2:1: warning: #include "/usr/local/tars/cpp/include/servant/EndpointF.tars" '
        "is outside the monorepo: its definitions are not checked",
        'services/Test/AServer/Client.tars:3:1: warning: #include "../../../../outside/Secret.tars" is outside the '
        "monorepo: its definitions are not checked",
        'services/Test/AServer/Client.tars:4:3: warning: #include "../Link.tars" is outside the monorepo: its '
        "definitions are not checked",
        'services/Test/AServer/Client.tars:5:1: warning: #include "Missing.tars": no such file '
        "services/Test/AServer/Missing.tars",
        "services/Test/Broken.tars:1:45: unexpected end of file, expected one of 'const', 'enum', 'interface', "
        "'key', 'struct', '}'",
        "services/Test/Gone.tars:1:1: cannot read: No such file or directory",
    ]
    assert all(p.warning for p in problems[:4]) and not any(p.warning for p in problems[4:])


def test_identical_copies_are_parsed_once_but_located_at_their_own_path(tmp_path):
    text = "#include \"Types.tars\"\nmodule Test { interface BServant { void f(); }; };\n"
    for rel in ("services/Test/BServer/BServant.tars", "services/Test/AServer/BServant.tars",
                "services/Test/BServer/Types.tars"):
        write(tmp_path, rel, text if rel.endswith("BServant.tars") else "module Test { enum E { A }; };")
    files, problems = parse_files(tmp_path, ["services/Test/BServer/BServant.tars",
                                             "services/Test/AServer/BServant.tars"])
    assert [(f.path, f.interfaces[0].file, f.includes[0].resolved) for f in files] == [
        ("services/Test/BServer/BServant.tars", "services/Test/BServer/BServant.tars",
         "services/Test/BServer/Types.tars"),
        ("services/Test/AServer/BServant.tars", "services/Test/AServer/BServant.tars", None)]
    assert [str(p) for p in problems] == [
        'services/Test/AServer/BServant.tars:1:1: warning: #include "Types.tars": no such file '
        "services/Test/AServer/Types.tars"]


def test_tracked_idl_files_lists_what_git_tracks(tmp_path):
    root = tmp_path / "repo"
    for rel in ("services/A/S/A.tars", "services/B/T/sub/B.tars", "tests/data/C.tars", "services/A/S/notes.txt"):
        write(root, rel, "module A {};")
    init_git(root)
    write(root, "services/A/S/Untracked.tars", "module A {};")
    write(root, ".gitignore", "Ignored.tars\n")
    write(root, "services/A/S/Ignored.tars", "module A {};")
    subprocess.run(["git", "rm", "-q", "--cached", "services/B/T/sub/B.tars"], cwd=root, check=True)
    subprocess.run(["git", "add", "services/B/T/sub/B.tars"], cwd=root, check=True)
    os.remove(root / "tests/data/C.tars")  # tracked, deleted in the work tree
    assert tracked_idl_files(root) == ["services/A/S/A.tars", "services/B/T/sub/B.tars"]
    assert tracked_idl_files(root, under="services/B") == ["services/B/T/sub/B.tars"]
    assert tracked_idl_files(root / "services", under=".") == ["A/S/A.tars", "B/T/sub/B.tars"]


def test_tracked_idl_files_walks_outside_git(tmp_path):
    root = tmp_path / "plain"
    for rel in ("services/A/S/A.tars", "services/A/S/.git/x.tars", "other/O.tars", "services/readme.md"):
        write(root, rel, "module A {};")
    assert tracked_idl_files(root) == ["other/O.tars", "services/A/S/A.tars"]
    assert tracked_idl_files(root, under="services") == ["services/A/S/A.tars"]


def test_problem_is_the_shared_located_kind():
    with pytest.raises(InputError) as caught:
        parse_text("module", "a/b.tars")
    assert caught.value.problems == [Problem("a/b.tars", 1, 7, "", "unexpected end of file, expected a name")]


# ---- types used but not defined ------------------------------------------------------------------------------

def test_every_type_the_corpus_uses_is_defined_where_it_is_used():
    files, _ = parse_files(CORPUS, CORPUS_FILES)
    assert undefined_types({f.path: f for f in files}) == []


def test_a_type_not_defined_in_the_file_or_its_includes_is_located(tmp_path):
    write(tmp_path, "svc/Types.tars", "module A { struct Item { 0 require int id; }; enum E { X }; };")
    write(tmp_path, "svc/Use.tars", textwrap.dedent("""\
        #include "Types.tars"
        module A { interface I { Item get(E e, out vector<Itme> all); }; };
        module B { struct S { 0 require Item i; 1 optional A::Item ok; 2 optional map<string, A::Nope> m; }; };
        module B { const E LIMIT = 1; };
        """))
    write(tmp_path, "svc/Blind.tars", '#include "/usr/include/Other.tars"\nmodule C { struct T { 0 require Z z; }; };')
    files, problems = parse_files(tmp_path, ["svc/Blind.tars", "svc/Types.tars", "svc/Use.tars"])
    assert [str(p) for p in undefined_types({f.path: f for f in files})] == [
        "svc/Use.tars:2:51: method get: parameter all: type A.Itme is not defined in this file or a file it includes",
        "svc/Use.tars:3:33: struct S: field i: type B.Item is not defined in this file or a file it includes",
        "svc/Use.tars:3:87: struct S: field m: type A.Nope is not defined in this file or a file it includes",
        "svc/Use.tars:4:18: const LIMIT: type B.E is not defined in this file or a file it includes",
    ]


def test_user_types_of_a_normalised_type():
    assert user_types("map<string, vector<map<Test.Key, Other.Value>>>") == ["Test.Key", "Other.Value"]
    assert user_types("unsigned int") == [] and user_types("void") == []
