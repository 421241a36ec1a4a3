"""Properties of the TARS IDL parser: what a definition says survives any layout and comments (and
first_difference sees no difference), and a damaged real file gives located one-line errors, never a traceback."""
from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tars_tasks.core.errors import InputError
from tars_tasks.interfaces.compare import first_difference
from tars_tasks.interfaces.parser import parse_text

CORPUS = Path(__file__).resolve().parents[1] / "data" / "idl"
TEXTS = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.rglob("*.tars"))[::4]]
LOCATED = re.compile(r"^x\.tars:\d+:\d+: \S[^\n]*$")
KEYWORDS = {"module", "struct", "interface", "enum", "const", "key", "vector", "map", "out", "routekey", "require",
            "optional", "void", "true", "false", "unsigned", "bool", "byte", "short", "int", "long", "float",
            "double", "string"}

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in KEYWORDS | {"Mod", "Known"})
builtins = st.sampled_from(["bool", "byte", "short", "int", "long", "float", "double", "string", "unsigned byte",
                            "unsigned short", "unsigned int"])
types = st.recursive(builtins | st.just("Mod.Known"),
                     lambda inner: st.builds("vector<{}>".format, inner) | st.builds("map<{}, {}>".format, inner, inner),
                     max_leaves=4)
# what may stand between two tokens: blanks, line breaks, comments
gaps = st.lists(st.sampled_from([" ", "  ", "\t", "\n", "\n\n", " /* c */ ", "/**/", " // c\n", "\r\n"]),
                min_size=1, max_size=3).map("".join)


def written(type_: str) -> str:
    """A normalised type as a user might write it: `::` for `.`, no space after a comma, `>>` together."""
    return type_.replace("Mod.", "Mod::").replace(", ", ",")


@st.composite
def definitions(draw) -> tuple[list[tuple], list[str]]:
    """A module's worth of (kind, name, parts) and its tokens."""
    used = set(draw(st.lists(names, min_size=4, max_size=4, unique=True)))
    struct, enum, servant = sorted(used)[:3]
    tags = draw(st.lists(st.integers(0, 255), min_size=1, max_size=5, unique=True))
    fields = [(tag, draw(st.booleans()), draw(types), f"f{tag}") for tag in tags]
    members = [f"M{i}" for i in range(draw(st.integers(1, 4)))]
    methods = []
    for i in range(draw(st.integers(0, 3))):
        params = [(draw(st.booleans()), draw(types), f"p{j}") for j in range(draw(st.integers(0, 3)))]
        methods.append((f"m{i}", draw(st.sampled_from(["void", "int", "vector<Mod.Known>"])), params))
    tokens = ["module", "Mod", "{", "struct", "Known", "{", "0", "optional", "int", "x", ";", "}", ";"]
    tokens += ["struct", struct, "{"]
    for tag, required, type_, name in fields:
        tokens += [str(tag), "require" if required else "optional", written(type_), name, ";"]
    tokens += ["}", ";", "enum", enum, "{", ",".join(members), "}", ";", "interface", servant, "{"]
    for name, ret, params in methods:
        tokens += [written(ret), name, "(", ",".join(f"{'out ' if out else ''}{written(t)} {n}"
                                                     for out, t, n in params), ")", ";"]
    tokens += ["}", ";", "}", ";"]
    expected = [("struct", struct, [(t, r, ty, n) for t, r, ty, n in fields]), ("enum", enum, members),
                ("interface", servant, [(n, r, [(o, t) for o, t, _ in ps]) for n, r, ps in methods])]
    return expected, tokens


def layout(draw, tokens: list[str]) -> str:
    return "".join(token + draw(gaps) for token in tokens)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_definition_means_the_same_in_any_layout(data):
    expected, tokens = data.draw(definitions())
    one = parse_text(layout(data.draw, tokens), "x.tars")
    other = parse_text(layout(data.draw, tokens), "y.tars")
    struct = next(s for s in one.structs if s.name == expected[0][1])
    assert [(f.tag, f.required, f.type, f.name) for f in struct.fields] == expected[0][2]
    assert [m for m, _ in one.enums[0].members] == expected[1][2]
    assert [(m.name, m.ret, [(p.out, p.type) for p in m.params]) for m in one.interfaces[0].methods] == expected[2][2]
    assert [d.full_name for d in one.definitions()] == ["Mod.Known", *(f"Mod.{e[1]}" for e in expected)]
    for a, b in zip(one.definitions(), other.definitions()):
        assert first_difference(a, b) is None


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(TEXTS), st.integers(0, 10**6), st.integers(0, 6), st.sampled_from(["", ";", "}", "<", "x", "$", "/*", '"', "0"]))
def test_a_damaged_file_gives_located_errors_never_a_traceback(text, at, cut, insert):
    at %= len(text) + 1
    damaged = text[:at] + insert + text[at + cut:]
    try:
        parse_text(damaged, "x.tars")
    except InputError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert LOCATED.match(str(problem)), str(problem)
