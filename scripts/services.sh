#!/usr/bin/env bash
# Start (idempotently) the Docker engine and a registry on 127.0.0.1:5000 that the tools and tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
state=.tools/run
mkdir -p "$state"

start_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  echo "services: starting dockerd" >&2
  # a session of its own (setsid): the engine outlives the test run or job that happened to start it; in that
  # run's process group, a timeout or Ctrl-C there stopped it under every other user of the machine
  setsid nohup dockerd >"$state/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
  echo "services: dockerd did not start; see $state/dockerd.log" >&2
  tail -20 "$state/dockerd.log" >&2
  return 1
}

start_registry() {
  local code
  code=$(python3 - <<'PY'
import urllib.error, urllib.request
try:
    print(urllib.request.urlopen("http://127.0.0.1:5000/v2/", timeout=2).status)
except urllib.error.HTTPError as exc:
    print(exc.code)
except OSError:
    print(0)
PY
)
  if [ "$code" = "200" ]; then return 0; fi
  if [ "$code" != "0" ]; then
    echo "services: something on 127.0.0.1:5000 answers HTTP $code (a registry that needs a login?);" \
         "stop it (e.g. service docker-registry stop) so an open local registry can run there" >&2
    return 1
  fi
  echo "services: starting docker-registry on 127.0.0.1:5000" >&2
  mkdir -p "$state/registry"
  cat >"$state/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $PWD/$state/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
YAML
  setsid nohup docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 < /dev/null &
  for _ in $(seq 1 30); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/v2/', timeout=2)" 2>/dev/null && return 0
    sleep 1
  done
  echo "services: registry did not start; see $state/registry.log" >&2
  return 1
}

case "${1:-start}" in
  start) start_docker; start_registry ;;
  *) echo "usage: $0 start" >&2; exit 2 ;;
esac
