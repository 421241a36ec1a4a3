#!/usr/bin/env bash
# Refresh requirements.lock: every runtime and test dependency of pyproject.toml, transitive ones included,
# pinned with hashes for CPython 3.11 (what setup.sh and CI install). Existing pins are kept unless
# `--upgrade` (everything) or `--upgrade-package NAME` is given:
#   bash scripts/lock.sh                      # after changing dependencies in pyproject.toml
#   bash scripts/lock.sh --upgrade-package ruff
# pyproject.toml keeps its ranges for people who install the wheel; the lock is what CI tested.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
python3 -m uv --version 2>/dev/null | grep -q " $UV_VERSION" ||
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "uv==$UV_VERSION"
python3 -m uv pip compile pyproject.toml --extra test --python-version 3.11 --generate-hashes \
  --custom-compile-command "bash scripts/lock.sh" -o requirements.lock "$@"
