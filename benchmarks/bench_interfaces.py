"""Benchmark: the interface checks of `invoke validate` (parse every .tars file, ownership, stale copies, the
call scan) over N services with 3 .tars files and 20 source files each, against `validate --no-render`'s own
work on the same repository (discover, schema, rules, graph), measured in the same run.

Target (issue 15): interfaces <= 1.5x validate --no-render.

    python benchmarks/bench_interfaces.py [N]

Each service i: `Svc{i}.tars` (its interface and types, served by servant Obj{i} through `interface:`),
`Push{i}.tars` (a callback interface that includes it), a byte-for-byte copy of the interface file of the
service it depends on, and 20 source files of about 700 bytes (synth's main.sh and README.md, 18 more), one
of them calling that dependency by its object name. A git repository, so the files are the tracked ones.
Measured twice: with no parse cache (a fresh clone, as in CI) and with the cache a previous run left.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import make  # noqa: E402

from tars_tasks.core.settings import Settings  # noqa: E402
from tars_tasks.interfaces.cache import cache_path  # noqa: E402
from tars_tasks.interfaces.checks import validate_interfaces  # noqa: E402
from tars_tasks.project import Project  # noqa: E402
from tars_tasks.validate.schema import validator  # noqa: E402

SERVICE = """// the interface Server{i} serves (servant Obj{i}), with its types
module App{a}
{{
    enum Kind{i} {{ K_NONE = 0, K_ONE = 1, K_TWO = 2 }};
    struct Req{i}
    {{
        0 require string id;
        1 optional int count = 0;
        2 optional vector<string> tags;
        3 optional map<string, long> totals;
        4 optional Kind{i} kind = K_NONE;
    }};
    struct Rsp{i}
    {{
        0 require int code;
        1 optional string message;
        2 optional vector<Req{i}> items;
    }};

    interface Svc{i}
    {{
        int get(Req{i} req, out Rsp{i} rsp);
        int put(Req{i} req);
        int list(vector<string> ids, out vector<Rsp{i}> rsps);
        int count(string id, out long total);
        int ping();
        int stats(out map<string, long> counters);
    }};
}};
"""
PUSH = """#include "Svc{i}.tars"

// what Server{i} pushes back to its callers
module App{a}
{{
    interface Svc{i}Push
    {{
        int changed(Req{i} req, Rsp{i} now);
        int gone(string id);
    }};
}};
"""
SOURCE = """// {name}: part of Server{i} (synthetic)
#include <string>
#include <vector>

namespace app{a} {{
struct Item{n} {{ std::string id; int count = 0; }};

int handle{n}(const std::vector<Item{n}>& items) {{
    int total = 0;
    for (const auto& item : items) {{
        total += item.count;  // plain.member.access is not an object name
    }}
    return total;
}}

std::string describe{n}(const Item{n}& item) {{
    return item.id + ": " + std::to_string(item.count);
}}
{call}
}}  // namespace app{a}
"""


def add_interfaces(root: Path, n: int) -> None:
    """Each synthetic service gets its 3 .tars files (its interface; a push interface that includes it; a copy,
    byte for byte, of the interface of the service it depends on) and 18 more source files (synth wrote
    main.sh and README.md), one calling that dependency."""
    for i in range(n):
        a = i % 10
        folder = root / "services" / f"App{a}" / f"Server{i}"
        values = folder / "values.yaml"
        values.write_text(values.read_text().replace(f"  - name: Obj{i}\n",
                                                     f"  - name: Obj{i}\n    interface: App{a}.Svc{i}\n"))
        (folder / f"Svc{i}.tars").write_text(SERVICE.format(a=a, i=i))
        (folder / f"Push{i}.tars").write_text(PUSH.format(a=a, i=i))
        dep = i - 10 if i >= 10 else (i + 10) % n
        (folder / f"Svc{dep}.tars").write_text(SERVICE.format(a=dep % 10, i=dep))
        (folder / "src").mkdir(exist_ok=True)
        for k in range(18):
            call = (f'auto proxy = comm->stringToProxy<Svc{dep}Prx>("App{dep % 10}.Server{dep}.Obj{dep}");\n'
                    if k == 7 and i >= 10 else "")
            (folder / "src" / f"part{k}.cpp").write_text(SOURCE.format(name=f"part{k}.cpp", i=i, a=a, n=k, call=call))


def git_commit(root: Path) -> None:
    for argv in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "synthetic"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)


def main(n: int = 1000, repeat: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = make(Path(tmp), n)
        add_interfaces(root, n)
        git_commit(root)
        settings = Settings.from_mapping({"root": str(root)})
        validator()  # compiled once per process, as in a real run
        peer, cold, warm = [], [], []
        for _ in range(repeat):  # alternate, so all three see the same machine load
            start = time.perf_counter()
            project = Project.load(settings)
            values_problems = project.problems_for(project.services)  # validate --no-render before interfaces
            peer.append(time.perf_counter() - start)
            cache_path(settings).unlink(missing_ok=True)
            start = time.perf_counter()
            found = validate_interfaces(project.settings, project.services, project.services)
            cold.append(time.perf_counter() - start)
            start = time.perf_counter()
            again = validate_interfaces(project.settings, project.services, project.services)
            warm.append(time.perf_counter() - start)
        assert not values_problems and not found and again == found, (values_problems[:3], found[:3])
        base = statistics.median(peer)
        print(f"{n} services: {3 * n} .tars files, {20 * n} source files")
        for name, times in (("validate --no-render (values)", peer),
                            ("interfaces, parse cache empty", cold), ("interfaces, parse cache warm", warm)):
            print(f"{name:<32} median {statistics.median(times):.3f} s  best {min(times):.3f} s  "
                  f"ratio {statistics.median(times) / base:.2f}x")
        print("target: interfaces <= 1.5x validate --no-render")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
