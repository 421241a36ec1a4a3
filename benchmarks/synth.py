"""Make a synthetic monorepo of N services (a few files each) for the benchmarks."""
from __future__ import annotations

from pathlib import Path

VALUES = """app: App{a}
server: Server{i}
template: tars.cpp
servants:
  - name: Obj{i}
    port: {port}
    thread: 4
  - name: Http{i}
    port: {port2}
    isTars: false
replicas: 2
envVars:
  - name: LEVEL
    value: info
config:
  - name: server.conf
    content: |
      <server>
        id = {i}
      </server>
labelMatch:
  - key: tars.io/node
    operator: Exists
mounts:
  - name: data
    mountPath: /data
    source:
      hostPath: {{path: /srv/{i}, type: DirectoryOrCreate}}
dependsOn: [{deps}]
build:
  type: go
  files: [main.sh]
"""


def make(root: Path, n: int) -> Path:
    services = root / "services"
    for i in range(n):
        a = i % 10
        deps = f"App{(i - 10) % 10}.Server{i - 10}" if i >= 10 else ""
        folder = services / f"App{a}" / f"Server{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "values.yaml").write_text(VALUES.format(a=a, i=i, port=10000 + i % 5000, port2=20000 + i % 5000,
                                                          deps=deps))
        (folder / "main.sh").write_text(f"#!/bin/sh\necho server {i}\n")
        (folder / "README.md").write_text(f"Server {i}\n")
    return root
