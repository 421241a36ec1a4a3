"""Property: any mutation of a valid values.yaml is either valid or gives located one-line errors; never a traceback."""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tars_tasks.core.settings import Settings
from tars_tasks.project import Project

DATA = Path(__file__).resolve().parent.parent / "data" / "valid"
SAMPLES = sorted(DATA.glob("*.yaml")) + sorted((Path(__file__).resolve().parents[2] / "services").rglob("values.yaml"))
TEXTS = [p.read_text() for p in SAMPLES]
LOCATED = re.compile(r"^services/S/values\.yaml:\d+:\d+: \S.*$")

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**7, 10**7), st.floats(allow_nan=False),
                    st.text(max_size=12), st.sampled_from(["", "In", "tars", "-x", "A.B", "19385", "70000"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


@st.composite
def mutated_documents(draw) -> bytes:
    text = draw(st.sampled_from(TEXTS))
    kind = draw(st.sampled_from(["replace", "delete", "noise", "bytes"]))
    if kind in ("replace", "delete"):
        doc = yaml.safe_load(text)
        for _ in range(draw(st.integers(1, 3))):
            all_paths = [p for p in paths(doc) if p]
            if not all_paths:
                break
            path = draw(st.sampled_from(all_paths))
            parent = doc
            for part in path[:-1]:
                parent = parent[part]
            if kind == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = draw(values)
        return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")
    data = text.encode()
    pos = draw(st.integers(0, len(data)))
    if kind == "noise":
        junk = draw(st.text(alphabet=":-[]{}&*!|>'\"#%@`\t\n ?,", min_size=1, max_size=6)).encode()
    else:
        junk = draw(st.binary(min_size=1, max_size=4))
    return data[:pos] + junk + data[pos:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_mutations_are_valid_or_located(content):
    root = Path(tempfile.mkdtemp())
    try:
        (root / "services" / "S").mkdir(parents=True)
        (root / "services" / "S" / "values.yaml").write_bytes(content)
        project = Project.load(Settings.from_mapping({"root": str(root)}))
        for problem in project.problems:
            line = str(problem)
            assert "\n" not in line, line
            assert LOCATED.match(line), line
    finally:
        shutil.rmtree(root)
