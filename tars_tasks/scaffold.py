"""`init`: the files of a new monorepo that tars-tasks releases, written all or nothing.

A new monorepo gets what this repository's own top level shows a user: a two-line `tasks.py`, an `invoke.yaml`
whose `tars:` block points at the monorepo's own copies of the chart and schemas (so editing them changes
what every service renders, and a change to the chart counts as a change to every service), one example
service that validates and builds, the chart (`helm-template/`) and schemas (`schema/`) copied from the
installed tool (core/assets.py: a wheel's bundled copy, or a checkout's top level), a CI pipeline, and a
`.gitignore` for the tool's outputs.

Nothing is ever overwritten: when any of those files exists, the refusal names every one of them and nothing
is written. Files are created exclusively (a file that appears meanwhile is not overwritten either) and a
failure part way removes what this run wrote.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from tars_tasks.core import assets, fsio
from tars_tasks.core.errors import TarsError, UsageError

# --ci: which pipeline template (assets.ci_dir()) goes where in the new monorepo
CI_FILES = {"gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
            "github": ("github-actions.yml", ".github/workflows/tars-tasks.yml")}
CI_CHOICES = (*CI_FILES, "none")
CHART_DIR = "helm-template"
SCHEMA_DIR = "schema"
EXAMPLE_DIR = "services/Demo/HelloServer"

TASKS_PY = '''"""invoke's entry point: `invoke --list` shows the tars-tasks tasks."""
from tars_tasks.tasks import ns, preflight  # noqa: F401

preflight(__file__)
'''

INVOKE_YAML = f"""\
# tars-tasks settings. Any of them per run: INVOKE_TARS_<KEY>=value, or `invoke -f other.yaml ...`.
tars:
  services_dir: services
  registry: 127.0.0.1:5000   # where images are pushed: your registry (login: TARS_REGISTRY_USERNAME/PASSWORD)
  namespace: tars            # the Kubernetes namespace the services are deployed to
  # this repository's own chart and schemas: edit them and every service renders (and is released) with them
  chart_dir: {CHART_DIR}
  values_schema: {SCHEMA_DIR}/values.schema.json
  crds_dir: {SCHEMA_DIR}/crds
  # `--env staging` / `--env prod` (the CI pipeline uses both): any setting above, per environment;
  # per-service values in services/<App>/<Server>/values.<env>.yaml
  environments:
    staging:
      namespace: tars-staging
    prod:
      namespace: tars-prod
"""

GITIGNORE = """\
# what tars-tasks writes: packaged charts, build and deploy logs, reports
dist/
# the CI pipeline's pip and helm cache (PIP_CACHE_DIR, XDG_DATA_HOME in .gitlab-ci.yml)
.cache/
__pycache__/
"""

EXAMPLE_VALUES = """\
# An example service: `invoke validate` checks this file, `invoke release` builds its image (this folder on
# the tars.nodejs base image) and deploys it. A new service is a new folder services/<App>/<Server>/.
app: Demo
server: HelloServer
template: tars.nodejs
servants:
  - name: HelloObj          # serves the interface Hello (Hello.tars in this folder)
    port: 10000
replicas: 1
config:
  - name: hello.conf
    content: |
      greeting = hello
"""

EXAMPLE_TARS = """\
/* The interface HelloServer serves (servant HelloObj). `invoke interfaces --check` reports a breaking change. */
module Demo
{
    interface Hello
    {
        int test();
        int testHello(string req, out string rsp);
    };
};
"""

EXAMPLE_JS = """\
// Demo.HelloServer: a stand-in for your server. A TARS Node.js server implements Hello.tars with @tars/rpc;
// this one answers each line sent to the servant's port with a greeting.
const net = require("net");

net.createServer((socket) => {
  socket.on("data", (data) => socket.write(`hello ${String(data).trim()}\\n`));
}).listen(Number(process.env.HELLO_PORT || 10000));
"""

EXAMPLE_PACKAGE = '{"name": "demo-helloserver", "version": "1.0.0", "main": "index.js", "private": true}\n'


class ExistingFiles(UsageError):
    """``init`` would overwrite files: every one of them is named, and nothing was written."""

    def __init__(self, root: Path, paths: list[Path]):
        self.paths = paths
        listed = "".join(f"\n  {p}" for p in paths)
        super().__init__(f"{root}: {len(paths)} file(s) exist already; nothing written (init never overwrites):"
                         f"{listed}")


def planned_files(ci: str = "gitlab") -> dict[str, bytes]:
    """Every file of a new monorepo: repo-relative posix path -> content. ``ci``: one of CI_CHOICES."""
    if ci not in CI_CHOICES:
        raise UsageError(f"--ci: {ci!r} is not one of {', '.join(CI_CHOICES)}")
    files = {
        "tasks.py": TASKS_PY.encode(),
        "invoke.yaml": INVOKE_YAML.encode(),
        ".gitignore": GITIGNORE.encode(),
        f"{EXAMPLE_DIR}/values.yaml": EXAMPLE_VALUES.encode(),
        f"{EXAMPLE_DIR}/Hello.tars": EXAMPLE_TARS.encode(),
        f"{EXAMPLE_DIR}/index.js": EXAMPLE_JS.encode(),
        f"{EXAMPLE_DIR}/package.json": EXAMPLE_PACKAGE.encode(),
    }
    for prefix, folder in ((CHART_DIR, assets.chart_dir()), (SCHEMA_DIR, assets.schema_dir())):
        files.update({f"{prefix}/{rel}": entry.read_bytes() for rel, entry in assets.walk(folder)})
    if ci in CI_FILES:
        template, target = CI_FILES[ci]
        files[target] = (assets.ci_dir() / template).read_bytes()
    return files


def _in_the_way(root: Path, rel: str) -> Path | None:
    """What stops ``rel`` from being created under ``root``: the path itself (a file, folder or symlink,
    dangling or not) or a parent of it inside ``root`` that is not a folder."""
    path = root
    parts = rel.split("/")
    for depth, part in enumerate(parts, 1):
        path = path / part
        if depth == len(parts):
            return path if os.path.lexists(path) else None
        if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
            return path
        if not os.path.lexists(path):
            return None
    return None


def scaffold(root: Path, ci: str = "gitlab") -> list[Path]:
    """Write a new monorepo at ``root`` (created when missing) and return the written paths (``root / rel``).

    Raises ExistingFiles (exit 2) naming every file in the way, before writing anything; TarsError when a
    write fails (what this run wrote is removed again)."""
    files = planned_files(ci)
    if os.path.lexists(root) and not root.is_dir():
        raise UsageError(f"{root}: not a folder")
    blocking = sorted({p for p in (_in_the_way(root, rel) for rel in files) if p is not None})
    if blocking:
        raise ExistingFiles(root, blocking)
    written: list[Path] = []
    made: list[Path] = []  # folders this run created, parents first
    try:
        for rel, data in files.items():
            path = root / rel
            for folder in reversed([path.parent, *path.parent.parents]):
                if not os.path.lexists(folder):
                    folder.mkdir()
                    made.append(folder)
            fsio.create_new(path, data)
            written.append(path)
    except OSError as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise TarsError(f"{exc.filename or root}: cannot write: {exc.strerror or exc}; nothing written") from None
    return written
