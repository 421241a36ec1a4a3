"""`invoke init` (and `python -m tars_tasks init`, tars_tasks/__main__.py): scaffold a new monorepo."""
from __future__ import annotations

import sys
from pathlib import Path

from invoke import Context, task

from tars_tasks.cli.common import reports_errors

CI_HELP = "the CI pipeline to write: gitlab (.gitlab-ci.yml, default), github (.github/workflows/), none"


def run_init(path: str, ci: str) -> None:
    """Scaffold at ``path``: the written files on stdout, what to do next on stderr. Raises TarsError."""
    from tars_tasks.scaffold import scaffold

    written = scaffold(Path(path), ci)
    for file in written:
        print(file)
    print(f"init: {len(written)} file(s) written in {path}. Next: set tars.registry in invoke.yaml, then "
          "`git init && git add -A && git commit -m init`, `invoke validate`, `invoke release --all --dry-run`",
          file=sys.stderr)


@task(auto_shortflags=False, help={"path": "folder of the new monorepo (default: the current folder)", "ci": CI_HELP})
@reports_errors
def init(c: Context, path: str = ".", ci: str = "gitlab") -> None:
    """Scaffold a new monorepo: tasks.py, invoke.yaml, an example service, the chart, schemas and CI file."""
    run_init(path, ci)


TASKS = (init,)
