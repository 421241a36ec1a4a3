"""Breaking and compatible changes between two versions of a TARS definition, one test per rule, and the
stale-copy check (first_difference)."""
from __future__ import annotations

import textwrap

import pytest

from tars_tasks.interfaces.compare import BREAKING, COMPATIBLE, Change, changes, first_difference
from tars_tasks.interfaces.parser import parse_text

SERVANT = """\
module Test
{
    interface BServant
    {
        int queryResult(string sIn, out string sOut);
        void ping();
    };
};
"""

FOO = """\
module Test
{
    struct Foo
    {
        0 require int a;
        1 optional string b;
        2 optional int c = 5;
        3 require int d = 1;
    };
};
"""

COLOR = "module Test { enum Color { RED, GREEN, BLUE }; };"


def one(text: str, path: str = "x.tars"):
    (definition,) = parse_text(textwrap.dedent(text), path).definitions()
    return definition


def edited(text: str, old: str, new: str):
    assert old in text
    return one(text.replace(old, new, 1))


def diff(base: str, old: str, new: str) -> list[Change]:
    return changes(one(base), edited(base, old, new))


def B(subject: str, message: str) -> Change:
    return Change(BREAKING, subject, message)


def C(subject: str, message: str) -> Change:
    return Change(COMPATIBLE, subject, message)


# ---- whole definitions ---------------------------------------------------------------------------------------

def test_added_definitions_are_compatible():
    assert changes(None, one(SERVANT)) == [C("Test.BServant", "interface Test.BServant added")]
    assert changes(None, one(FOO)) == [C("Test.Foo", "struct Test.Foo added")]


def test_removed_definitions_are_breaking():
    assert changes(one(SERVANT), None) == [B("Test.BServant", "interface Test.BServant removed")]
    assert changes(one(FOO), None) == [B("Test.Foo", "struct Test.Foo removed")]
    assert changes(one(COLOR), None) == [B("Test.Color", "enum Test.Color removed")]


def test_a_definition_that_changes_kind_is_breaking():
    assert changes(one(FOO), one("module Test { enum Foo { A }; };")) == [
        B("Test.Foo", "Test.Foo was a struct, is now an enum")]


def test_the_same_text_is_no_change_wherever_it_lives():
    assert changes(one(SERVANT, "a/A.tars"), one(SERVANT, "b/B.tars")) == []
    assert changes(None, None) == []


# ---- interfaces ----------------------------------------------------------------------------------------------

def test_removed_method_is_breaking():
    assert diff(SERVANT, "        void ping();\n", "") == [B("Test.BServant.ping", "method ping removed")]


def test_added_method_is_compatible():
    assert diff(SERVANT, "void ping();", "void ping();\n        int count(string s);") == [
        C("Test.BServant.count", "method count added")]


def test_changed_return_type_is_breaking():
    assert diff(SERVANT, "int queryResult", "long queryResult") == [
        B("Test.BServant.queryResult", "method queryResult: return type int changed to long")]


def test_changed_parameter_type_is_breaking():
    assert diff(SERVANT, "string sIn", "vector<string> sIn") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 1 (sIn): type string changed to vector<string>")]


def test_changed_out_direction_is_breaking():
    assert diff(SERVANT, "out string sOut", "string sOut") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 2 (sOut) changed from out to in")]
    assert diff(SERVANT, "string sIn,", "out string sIn,") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 1 (sIn) changed from in to out")]


def test_added_parameter_is_breaking():
    assert diff(SERVANT, "out string sOut)", "out string sOut, int extra)") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 3 (int extra) added")]
    assert diff(SERVANT, "void ping()", "void ping(out map<string, int> all)") == [
        B("Test.BServant.ping", "method ping: parameter 1 (out map<string, int> all) added")]


def test_removed_parameter_is_breaking():
    assert diff(SERVANT, "string sIn, out string sOut", "string sIn") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 2 (out string sOut) removed")]


def test_removed_first_parameter_is_the_one_change():
    assert diff(SERVANT, "string sIn, out string sOut", "out string sOut") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 1 (string sIn) removed")]
    base = "module Test { interface I { int f(int a, string b, int c); }; };"
    assert diff(base, "int a, string b, int c", "int a, int c") == [
        B("Test.I.f", "method f: parameter 2 (string b) removed")]


def test_inserted_parameter_is_the_one_change():
    assert diff(SERVANT, "string sIn, out string sOut", "int n, string sIn, out string sOut") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 1 (int n) added")]
    base = "module Test { interface I { int f(int a, int c); }; };"
    assert diff(base, "int a, int c", "int a, int b, int c") == [  # names say which of the ints is new
        B("Test.I.f", "method f: parameter 2 (int b) added")]
    assert diff(base, "int a, int c", "int a, int c, int d") == [
        B("Test.I.f", "method f: parameter 3 (int d) added")]


def test_parameters_that_do_not_align_pair_by_position():
    assert diff(SERVANT, "string sIn, out string sOut", "int n") == [
        B("Test.BServant.queryResult", "method queryResult: parameter 1 (n): type string changed to int"),
        B("Test.BServant.queryResult", "method queryResult: parameter 2 (out string sOut) removed")]


def test_reordered_parameters_are_breaking():
    base = "module Test { interface I { int f(int a, int b, string c); }; };"
    assert diff(base, "int a, int b", "int b, int a") == [
        B("Test.I.f", "method f: parameters reordered: (a, b, c) changed to (b, a, c)")]
    assert diff(base, "int a, int b, string c", "string c, int a, long b") == [
        B("Test.I.f", "method f: parameters reordered: (a, b, c) changed to (c, a, b)"),
        B("Test.I.f", "method f: parameter 3 (b): type int changed to long")]


def test_renamed_parameter_is_no_change():
    assert diff(SERVANT, "string sIn, out string sOut", "string request, out string response") == []


def test_routekey_is_compatible():
    assert diff(SERVANT, "string sIn", "routekey string sIn") == [
        C("Test.BServant.queryResult", "method queryResult: parameter 1 (sIn): routekey added")]


def test_method_order_is_no_change():
    assert diff(SERVANT, "int queryResult(string sIn, out string sOut);\n        void ping();",
                "void ping();\n        int queryResult(string sIn, out string sOut);") == []


# ---- structs -------------------------------------------------------------------------------------------------

def test_removed_field_is_breaking():
    assert diff(FOO, "        1 optional string b;\n", "") == [B("Test.Foo.b", "field b (tag 1) removed")]


def test_changed_field_type_is_breaking():
    assert diff(FOO, "1 optional string b", "1 optional vector<byte> b") == [
        B("Test.Foo.b", "field b (tag 1): type string changed to vector<byte>")]


def test_changed_tag_is_breaking():
    assert diff(FOO, "1 optional string b", "7 optional string b") == [
        B("Test.Foo.b", "field b (tag 1): tag changed to 7")]


def test_optional_to_require_is_breaking():
    assert diff(FOO, "1 optional string b", "1 require string b") == [
        B("Test.Foo.b", "field b (tag 1): optional changed to require: data written before may not have it")]


def test_require_to_optional_is_breaking_because_a_default_value_is_not_sent():
    assert diff(FOO, "0 require int a", "0 optional int a") == [
        B("Test.Foo.a", "field a (tag 0): require changed to optional: a value equal to its default is no longer sent")]


def test_added_require_field_is_breaking():
    assert diff(FOO, "3 require int d = 1;", "3 require int d = 1;\n        4 require long e;") == [
        B("Test.Foo.e", "field e (tag 4) added as require: data written before has no such field")]


def test_added_optional_field_with_a_new_tag_is_compatible():
    assert diff(FOO, "3 require int d = 1;", "3 require int d = 1;\n        4 optional map<string, Test::Foo> e;") == [
        C("Test.Foo.e", "field e (tag 4) added")]


def test_added_optional_field_with_a_used_tag_is_breaking():
    assert diff(FOO, "1 optional string b;", "9 optional string b;\n        1 optional int z;") == [
        B("Test.Foo.b", "field b (tag 1): tag changed to 9"),
        B("Test.Foo.z", "field z (tag 1) added with the tag field b had")]


def test_renamed_field_is_compatible():
    assert diff(FOO, "1 optional string b", "1 optional string title") == [
        C("Test.Foo.b", "field b (tag 1) renamed to title")]


def test_changed_default_of_an_optional_field_is_breaking():
    assert diff(FOO, "2 optional int c = 5", "2 optional int c = 6") == [
        B("Test.Foo.c", "field c (tag 2): default 5 changed to 6: an optional field equal to its default is not sent")]


def test_changed_default_of_a_require_field_is_compatible():
    assert diff(FOO, "3 require int d = 1", "3 require int d = 2") == [
        C("Test.Foo.d", "field d (tag 3): default 1 changed to 2")]


def test_default_written_as_the_zero_value_is_no_change():
    assert diff(FOO, "1 optional string b;", '1 optional string b = "";') == []
    assert diff(FOO, "0 require int a;", "0 require int a = 0x0;") == []


def test_a_value_written_another_way_is_no_change():
    base = "module Test { enum E { A, B }; struct S { 0 optional E e = B; 1 optional double d = 1.5; }; const double X = 2; };"
    (enum, struct, const) = parse_text(base, "x.tars").definitions()
    (_, struct2, const2) = parse_text(base.replace("e = B", "e = Test::E::B").replace("d = 1.5", "d = 1.50")
                                      .replace("X = 2", "X = 2.0"), "x.tars").definitions()
    assert changes(struct, struct2) == [] and changes(const, const2) == []


def test_changed_key_is_compatible():
    base = "module Test { struct K { 0 require int a; 1 require int b; }; key[K, a, b]; };"
    assert diff(base, "key[K, a, b]", "key[K, b]") == [C("Test.K", "key[a, b] changed to key[b]")]


def test_field_order_is_no_change():
    assert diff(FOO, "0 require int a;\n        1 optional string b;", "1 optional string b;\n        0 require int a;") == []


# ---- enums and consts ----------------------------------------------------------------------------------------

def test_removed_enum_value_is_breaking():
    assert diff(COLOR, "GREEN, ", "") == [B("Test.Color.GREEN", "enum value GREEN removed"),
                                          B("Test.Color.BLUE", "enum value BLUE: 2 changed to 1")]


def test_changed_enum_value_number_is_breaking():
    assert diff(COLOR, "GREEN", "GREEN = 7") == [B("Test.Color.GREEN", "enum value GREEN: 1 changed to 7"),
                                                 B("Test.Color.BLUE", "enum value BLUE: 2 changed to 8")]


def test_added_enum_value_is_compatible():
    assert diff(COLOR, "BLUE", "BLUE, ALPHA = 10") == [C("Test.Color.ALPHA", "enum value ALPHA = 10 added")]


def test_changed_const_is_compatible_because_consts_are_compiled_in():
    base = "module Test { const int LIMIT = 10; };"
    assert diff(base, "= 10", "= 20") == [C("Test.LIMIT", "const LIMIT: value 10 changed to 20")]
    assert diff(base, "int LIMIT = 10", "long LIMIT = 10") == [C("Test.LIMIT", "const LIMIT: type int changed to long")]


# ---- stale copies --------------------------------------------------------------------------------------------

def test_first_difference_is_none_for_the_same_meaning_in_other_words():
    copy = one("""\
        // a client's copy, reformatted, with its own comments and parameter names
        module Test { interface BServant {
            void ping( ) ;   /* first here */
            int queryResult( string input , out string output )
        }; };
        """, "services/Test/AServer/BServant.tars")
    assert first_difference(copy, one(SERVANT, "services/Test/BServer/BServant.tars")) is None


def test_first_difference_names_what_the_original_has():
    original = one(SERVANT.replace("out string sOut", "out string sOut, int limit"))
    assert first_difference(one(SERVANT), original) == "method queryResult: parameter 3 (int limit) added"
    assert first_difference(original, one(SERVANT)) == "method queryResult: parameter 3 (int limit) removed"


def test_first_difference_reports_compatible_differences_too():
    assert first_difference(one(COLOR), edited(COLOR, "BLUE", "BLUE, ALPHA")) == "enum value ALPHA = 3 added"
    assert first_difference(one(FOO), edited(FOO, "2 optional int c = 5", "2 optional int count = 5")) == (
        "field c (tag 2) renamed to count")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("int queryResult(", "int queryResults(", "method queryResult removed"),
    ("void ping()", "void ping(int n)", "method ping: parameter 1 (int n) added"),
])
def test_first_difference_is_the_first_change_in_the_copys_order(old, new, expected):
    assert first_difference(one(SERVANT), edited(SERVANT, old, new)) == expected
