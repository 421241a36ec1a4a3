"""The compiled schema check says "valid" only when jsonschema finds no error, so a valid file skips the walk
and an invalid one still gets jsonschema's located messages."""
from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_validation_property import SAMPLES, TEXTS, paths, values

from tars_tasks.validate.fastcheck import compile_schema
from tars_tasks.validate.schema import schema, valid_check, validator

EDGES = st.sampled_from([True, False, 1, 1.0, 1.5, 0, -1, 99, 100, 65535, 65536, 10**12, "", "x" * 300, None, [],
                         {}, ["a", "a"], [1, 1], "tars.cpp", "In", "Exists", "A.B", "a.b", float("inf")])


@st.composite
def mutated(draw) -> dict:
    doc = yaml.safe_load(draw(st.sampled_from(TEXTS)))
    for _ in range(draw(st.integers(1, 3))):
        where = [p for p in paths(doc) if p]
        if not where:
            break
        path = draw(st.sampled_from(where))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        old = parent[path[-1]]
        alike = (st.booleans() if isinstance(old, bool) else st.integers(-5, 70000) if isinstance(old, int)
                 else st.text(alphabet="abAB01._-/ ", max_size=20) if isinstance(old, str) else EDGES)
        parent[path[-1]] = copy.deepcopy(draw(st.one_of(values, EDGES, alike, alike)))
    return doc


def test_the_values_schema_compiles_and_every_sample_passes_it():
    check = valid_check()
    assert check is not None
    assert SAMPLES and all(check(yaml.safe_load(text)) for text in TEXTS)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_valid_by_the_check_means_no_jsonschema_error(doc):
    if valid_check()(copy.deepcopy(doc)):
        assert list(validator().iter_errors(doc)) == []


@pytest.mark.parametrize("bad", [{"type": "string", "format": "email"}, {"anyOf": [{"type": "string"}]},
                                 {"$ref": "#/x"}, {"type": "decimal"}, {"items": [{"type": "string"}]},
                                 {"enum": [[1]]}])
def test_a_keyword_it_does_not_implement_leaves_the_schema_to_jsonschema(bad):
    assert compile_schema({"type": "object", "properties": {"x": bad}}) is None


def test_what_the_check_decides_matches_json_schema_semantics():
    check = compile_schema({"type": "object", "additionalProperties": False, "required": ["n"],
                            "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 3},
                                           "e": {"enum": ["a", 1, None]},
                                           "s": {"type": "array", "uniqueItems": True, "items": {"type": "string"}}}})
    assert check is not None
    assert check({"n": 2}) and check({"n": 2.0}) and check({"n": 1, "e": 1.0}) and check({"n": 3, "e": None})
    assert not check({"n": True}) and not check({"n": 4}) and not check({}) and not check({"n": 1, "x": 0})
    assert not check({"n": 1, "e": True}) and not check({"n": 1, "s": ["a", "a"]}) and check({"n": 1, "s": ["a"]})
    assert schema()["type"] == "object"
