"""Hostile inputs (issue 12, items 3, 4, 6, 7 and 9): YAML bombs, colliding services, saved plans that lie,
writes through symlinks, settings that would reach helm broken."""
from __future__ import annotations

import pytest

from tars_tasks.core.yamlfile import YamlFileError, load_mapping

# the classic "billion laughs": 9 levels of 9 aliases, 9^9 strings once expanded (a 468-byte file)
BILLION_LAUGHS = b"""# a billion laughs (468 bytes)
app: Base
server: Bomb
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def _refusal(data: bytes) -> str:
    with pytest.raises(YamlFileError) as caught:
        load_mapping(data, "services/Base/Bomb/values.yaml")
    return str(caught.value)


# --- item 6: YAML bombs and depth ---------------------------------------------------------------------------

def test_billion_laughs_is_refused_where_the_aliases_blow_up():
    assert len(BILLION_LAUGHS) == 468
    assert _refusal(BILLION_LAUGHS) == ("services/Base/Bomb/values.yaml:8:8: e[0]: YAML aliases expand to more "
                                        "than 10000 nodes (an alias bomb?); write the values out instead")


def test_a_thousand_nesting_levels_are_a_located_error_not_a_recursion_error():
    data = b"app: Base\nserver: Deep\nextra: " + b"[" * 1000 + b"]" * 1000 + b"\n"
    assert _refusal(data) == "services/Base/Bomb/values.yaml:3:107: extra[0][0][0]: nested more than 100 levels deep"


def test_nesting_so_deep_it_crashes_libyaml_is_refused_first():
    data = b"app: Base\nserver: Deep\nextra: " + b"[" * 200_000 + b"]" * 200_000 + b"\n"  # segfaults libyaml's composer
    assert _refusal(data).endswith(": nested more than 100 levels deep")


def test_block_nesting_is_refused_too():
    data = b"app: Base\nserver: Deep\nextra:\n" + b"".join(b"  " * i + b"- k:\n" for i in range(120))
    assert _refusal(data).startswith("services/Base/Bomb/values.yaml:53:101: extra[0].k[0]: nested more than")


def test_aliases_within_budget_and_merge_keys_still_load():
    values, _ = load_mapping(b"app: A\nserver: B\nbase: &b {cpu: 1, mem: 2}\nx: *b\ny:\n  <<: *b\n  cpu: 3\n", "v.yaml")
    assert values["x"] == {"cpu": 1, "mem": 2}
    assert values["y"] == {"cpu": 3, "mem": 2}


def test_duplicate_keys_are_located_with_both_lines():
    data = b"app: Base\nserver: Dup\nrepo:\n  image: a/b\n  tag: x\n  image: c/d\n"
    assert _refusal(data) == ("services/Base/Bomb/values.yaml:6:3: repo.image: duplicate key 'image' "
                              "(first at line 4, column 3; YAML would silently keep only the last)")


def test_duplicate_keys_in_flow_mappings_and_top_level():
    assert _refusal(b"app: A\nserver: B\napp: C\n").startswith("services/Base/Bomb/values.yaml:3:1: app: duplicate")
    assert ": x.a: duplicate key 'a' (first at line 1, column 5;" in _refusal(b"x: {a: 1, a: 2}\n")


def test_a_quoted_key_and_a_plain_number_are_different_keys():
    assert load_mapping(b'a: 1\n"1": x\n1: y\n', "v.yaml")[0] == {"a": 1, "1": "x", 1: "y"}
