#!/usr/bin/env bash
# One-time (idempotent) setup of a fresh machine: system packages, the Python package, a pinned helm,
# a running Docker engine and a local registry on 127.0.0.1:5000, and stand-in base images.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v dockerd >/dev/null || need_apt+=(docker.io)
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v git >/dev/null || need_apt+=(git)
command -v dot >/dev/null || need_apt+=(graphviz)  # `invoke graph --format svg`
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "setup: installing the locked dependencies (requirements.lock) and tars-tasks (pip install -e .)" >&2
pip_install() { python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@"; }
pip_install --require-hashes -r requirements.lock
pip_install --no-deps -e .
command -v pyenv >/dev/null && pyenv rehash || true

python3 -m tars_tasks.install_helm

bash scripts/services.sh start
python3 scripts/make_base_images.py
echo "setup: done" >&2
