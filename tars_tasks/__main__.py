"""`python -m tars_tasks init [PATH] [--ci gitlab|github|none]`: what works before a monorepo has a tasks.py.

Parses the arguments, calls the library, prints (tars_tasks/cli/init.py); expected failures are one message
and an exit code (2: files in the way, a bad option), never a traceback.
"""
from __future__ import annotations

import argparse
import sys

from tars_tasks import __version__
from tars_tasks.core.errors import TarsError
from tars_tasks.scaffold import CI_CHOICES


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m tars_tasks", description="tars-tasks commands that need no "
                                  "tasks.py; every other task runs with invoke (`invoke --list`)")
    top.add_argument("--version", action="version", version=f"tars-tasks {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="scaffold a new monorepo (never overwrites a file)",
                               description="Write tasks.py, invoke.yaml, an example service, copies of the "
                               "chart (helm-template/) and schemas (schema/), a CI pipeline and a .gitignore.")
    init.add_argument("path", nargs="?", default=".", help="folder of the new monorepo (default: the current one)")
    init.add_argument("--ci", choices=CI_CHOICES, default="gitlab",
                      help="the CI pipeline to write (default: gitlab)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a usage error: argparse's message and exit 2
    from tars_tasks.cli.init import run_init

    try:
        run_init(args.path, args.ci)
    except TarsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
