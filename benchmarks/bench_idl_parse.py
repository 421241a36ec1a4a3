"""Benchmark: parse N services' .tars files (3 each: a servant, its types, a copy of another's servant) with
the LALR parser, against peers measured in the same run: the same grammar under lark's Earley parser (on a
sample: it is far slower), and the project's own reading of each service's values.yaml (what `validate`
parses per service).

    python benchmarks/bench_idl_parse.py [N] [EARLEY_SAMPLE]

Times are CPU seconds of this process (time.process_time, median of 5): everything measured runs in one
thread here, and on a shared machine wall time measures the neighbours as much as the code.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lark import Lark  # noqa: E402
from synth import make  # noqa: E402

from tars_tasks.core.yamlfile import load_mapping  # noqa: E402
from tars_tasks.interfaces.parser import parse_files  # noqa: E402

SERVANT = """\
// the interface Server{i} serves
#include "Types.tars"
module App{a}
{{
    interface Servant{i}
    {{
        int query(string id, out Item{i} item);
        int list(vector<string> ids, routekey long uid, out map<string, Item{i}> items);
        int update(Item{i} item, out Status{i} status);
        void ping();
        bool exists(string id);
    }};
}};
"""

TYPES = """\
module App{a}
{{
    enum Status{i} {{ OK, MISSING = 4, FAILED, }};
    const int LIMIT{i} = {i};
    struct Item{i}
    {{
        0 require string id;
        1 optional string name = "";
        2 optional vector<map<string, int>> tags;
        3 optional Status{i} status = OK;
        4 optional double price = 0.0;  /* in cents */
    }};
    key[Item{i}, id];
}};
"""


def make_idl(root: Path, n: int) -> list[str]:
    """Three .tars files in each synthetic service; service i keeps a copy of service i-1's servant (including
    its types by relative path)."""
    paths = []
    for i in range(n):
        folder = root / "services" / f"App{i % 10}" / f"Server{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "Servant.tars").write_text(SERVANT.format(a=i % 10, i=i))
        (folder / "Types.tars").write_text(TYPES.format(a=i % 10, i=i))
        peer = (i - 1) % n
        (folder / "Peer.tars").write_text(SERVANT.format(a=peer % 10, i=peer).replace(
            '#include "Types.tars"', f'#include "../../App{peer % 10}/Server{peer}/Types.tars"'))
        rel = folder.relative_to(root).as_posix()
        paths += [f"{rel}/Servant.tars", f"{rel}/Types.tars", f"{rel}/Peer.tars"]
    return paths


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main(n: int = 1000, earley_sample: int = 30, repeat: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp), n)
        paths = make_idl(root, n)
        files, problems = parse_files(root, paths[:3])  # builds the parser once, as the first file of a run does
        assert len(files) == 3 and not problems, problems

        def lalr() -> None:
            parsed, found = parse_files(root, paths)
            assert len(parsed) == len(paths) and not found, found[:3]

        ours = best(lalr, repeat)
        values = sorted((root / "services").glob("*/*/values.yaml"))
        yaml_time = best(lambda: [load_mapping(p.read_bytes(), p.name) for p in values], repeat)
        grammar = resources.files("tars_tasks.interfaces").joinpath("tars.lark").read_text(encoding="utf-8")
        earley = Lark(grammar, parser="earley")
        texts = [(root / p).read_text() for p in paths[:earley_sample]]
        earley_time = best(lambda: [earley.parse(t) for t in texts], 1) / len(texts)

        per_file = ours / len(paths)
        print(f"| parse {len(paths)} .tars files ({n} services x 3), LALR + model | {ours:.3f} s | "
              f"{per_file * 1000:.3f} ms/file |")
        print(f"| peer: values.yaml of the same {len(values)} services (validate's loader) | {yaml_time:.3f} s | "
              f"{yaml_time / len(values) * 1000:.3f} ms/file |")
        print(f"| peer: the same grammar under lark Earley (tree only, {len(texts)} files) | "
              f"{earley_time * len(paths):.1f} s (extrapolated) | {earley_time * 1000:.2f} ms/file |")
        print(f"ratios: .tars parse of a service (3 files) / its values.yaml load = "
              f"{ours / n / (yaml_time / len(values)):.2f}; Earley / LALR per file = {earley_time / per_file:.0f}x")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
