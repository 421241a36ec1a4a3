"""YAML syntax errors are reported where the mistake is, not where the parser gave up."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tars_tasks.core import yamlfile
from tars_tasks.core.yamlfile import YamlFileError, load_mapping, syntax_error

# a values.yaml that goes on for 10 lines after the line with the mistake
REST = "".join(f"key{i}: {i}\n" for i in range(10))


def located(text: str) -> str:
    with pytest.raises(YamlFileError) as info:
        load_mapping(text.encode("utf-8"), "services/X/values.yaml")
    return str(info.value.problem)


@pytest.mark.parametrize("text,expected", [
    ('app: A\nserver: "Hello\n' + REST,
     "services/X/values.yaml:2:9: YAML syntax error: unterminated quoted string "
     "(started here; the parser gave up at line 13)"),
    ("app: A\nserver: 'Hello\n" + REST,
     "services/X/values.yaml:2:9: YAML syntax error: unterminated quoted string "
     "(started here; the parser gave up at line 13)"),
    ('app: A\n"server: B\n' + REST,  # an unterminated quoted key
     "services/X/values.yaml:2:1: YAML syntax error: unterminated quoted string "
     "(started here; the parser gave up at line 13)"),
    ('app: A\nserver: "Hello\n---\n' + REST,  # the string runs into the next document
     "services/X/values.yaml:2:9: YAML syntax error: unterminated quoted string "
     "(started here; the parser gave up at line 3)"),
])
def test_unterminated_quote_is_reported_at_the_opening_quote(text, expected):
    assert located(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("app: A\nservants: [{name: A, port: 1}\n" + REST,
     "services/X/values.yaml:2:11: YAML syntax error: unclosed '[' (started here; the parser gave up at line 3)"),
    ("app: A\nserver: {name: A, port: 1\n" + REST,
     "services/X/values.yaml:2:9: YAML syntax error: unclosed '{' (started here; the parser gave up at line 3)"),
    ("app: A\nservants: [{name: A, port: 1}, {name: B\n" + REST,  # the innermost unclosed bracket
     "services/X/values.yaml:2:32: YAML syntax error: unclosed '{' (started here; the parser gave up at line 3)"),
    ("app: A\nserver:\n  servants: [{name: A, port: 1}\n  replicas: 2\n",  # back at the block's indentation
     "services/X/values.yaml:3:13: YAML syntax error: unclosed '[' (started here; the parser gave up at line 4)"),
    ("app: A\nservants: [\n",  # the file ends inside the brackets
     "services/X/values.yaml:2:11: YAML syntax error: unclosed '[' (started here; the parser gave up at line 3)"),
    ("app: A\nservants: [a, b\n# trailing comment\n\n",
     "services/X/values.yaml:2:11: YAML syntax error: unclosed '[' (started here; the parser gave up at line 5)"),
])
def test_unclosed_bracket_is_reported_at_the_opening_bracket(text, expected):
    assert located(text) == expected


@pytest.mark.parametrize("text,expected", [
    # a missing ',' between items inside the brackets: the item after the gap is the mistake
    ("app: A\nservants: [\n  {name: A, port: 1}\n  {name: B, port: 2}\n]\n",
     "services/X/values.yaml:4:3: YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'"),
    # a ']' where the '}' belongs: reported at the ']'
    ("app: A\nservants: [{name: A, port: 1]\n",
     "services/X/values.yaml:2:29: YAML syntax error: while parsing a flow mapping did not find expected ',' or '}'"),
    # a bad escape inside a terminated string: reported at the escape, not the opening quote
    ('app: A\nserver: "Hel\\qlo"\n',
     "services/X/values.yaml:2:13: YAML syntax error: while parsing a quoted scalar found unknown escape character"),
])
def test_mistakes_inside_a_construct_stay_where_they_are(text, expected):
    assert located(text) == expected


def test_tab_indentation_is_reported_at_the_tab():
    assert located("app: A\nserver:\n\tname: x\n" + REST) == (
        "services/X/values.yaml:3:1: YAML syntax error: while scanning for the next token "
        "found character that cannot start any token")


def test_error_without_context_is_reported_where_the_parser_stopped():
    assert located("app: A\n  server: B\n" + REST) == (
        "services/X/values.yaml:2:9: YAML syntax error: mapping values are not allowed in this context")


def test_key_without_colon_is_reported_at_the_key():
    assert located("app: A\nserver\nreplicas: 2\n") == (
        "services/X/values.yaml:2:1: YAML syntax error: expected ':' after this key (the parser gave up at line 3)")


def test_syntax_error_without_text_still_places_quotes_at_the_opening():
    """core/settings.py calls syntax_error(exc) with the pure Python parser's exception and no text."""
    with pytest.raises(yaml.MarkedYAMLError) as info:
        yaml.safe_load('tars:\n  registry: "r:1\n' + REST)
    assert syntax_error(info.value) == (
        2, 13, "YAML syntax error: unterminated quoted string (started here; the parser gave up at line 13)")


# -- the quick load (one pass of the C parser) gives what the careful load gives, or steps aside ------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
                     st.text(max_size=12), st.sampled_from(["yes", "No", "0x1F", "0o17", "1_000", "1:30", "~", "",
                                                            "2001-12-14", "!secret", "=", "<<", ".inf", "3e4"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.one_of(st.text(max_size=6), st.integers(0, 9)), inner, max_size=4),
                       max_leaves=25)
_WORDS = st.lists(st.sampled_from(["a:", " 1", "\n", "  ", "- ", "[", "]", "{", "}", ", ", "'x'", '"y"', "&k ",
                                   "*k", "!!str ", "!!set ", "!secret ", "? ", "<<: ", "---\n", "#c", "yes", "01",
                                   "!!binary aGk=", "2001-12-14", "\t", "|\n  t\n"]), max_size=30).map("".join)


def _careful(text: str):
    try:
        yamlfile.yamlguard.check(text, yamlfile.SafeLoader)
        return yaml.load(text, Loader=yamlfile.ValuesLoader)
    except Exception as exc:  # noqa: BLE001 - any refusal: the quick load must step aside
        return exc


@hsettings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_VALUES.map(lambda v: yaml.safe_dump({"k": v, "app": "A"}, allow_unicode=True)),
                 st.dictionaries(st.text(max_size=5), _VALUES, max_size=4).map(yaml.dump), _WORDS))
def test_the_quick_load_equals_the_careful_one_or_steps_aside(text):
    quick = yamlfile._quick_load(text, text.encode("utf-8"))
    if quick is not None:
        careful = _careful(text)
        assert not isinstance(careful, Exception), (text, careful)
        assert quick == careful and repr(quick) == repr(careful)  # repr: 1 and True and 1.0 stay apart


def test_a_plain_values_file_takes_the_quick_load_and_odd_ones_do_not():
    plain = "app: A\nserver: B\nreplicas: 2\nservants:\n  - {name: Obj, port: 10000}\nsecret: !secret TOKEN\n"
    assert yamlfile._quick_load(plain, plain.encode()) == {
        "app": "A", "server": "B", "replicas": 2, "servants": [{"name": "Obj", "port": 10000}],
        "secret": "${secret:TOKEN}"}
    for odd in ("a: &x 1\nb: *x\n", "a: 1\na: 2\n", "a: {<<: {b: 1}}\n", "a: !!set {b}\n", "- 1\n", "",
                "a: " + "[" * 101 + "]" * 101 + "\n", "a:\n" + "- x\n" * (yamlfile.QUICK_MAX_INDICATORS + 1),
                "a: [1\n", "a: 1\n---\nb: 2\n", "? [a]\n: 1\n"):
        assert yamlfile._quick_load(odd, odd.encode()) is None, odd
