"""Issue 12 end to end (items 1, 5, 8): `invoke plan/build` with registry credentials in the environment.

Registries here are real (CNCF distribution, htpasswd) behind a recording TCP proxy on a loopback port: the
proxy keeps every byte a client (this tool, or the docker engine pushing) sent, so a test can say exactly
which Authorization headers reached which registry.
"""
from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import Cli

from support import REPO_ROOT, TEST_BASE_IMAGE, RegistryProcess, init_git
from tars_tasks.core.settings import SERVER_TYPES

pytestmark = [pytest.mark.docker]

TARS_USER, TARS_PASS = "ci", "tars-env-pass-5c1e"
TEAM_USER, TEAM_PASS = "team", "docker-cfg-pass-9ab2"
NPM_TOKEN = "npm-token-value-77d0"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class RecordingProxy:
    """127.0.0.1:<free port> forwarding to ``target`` (host:port); records what clients send."""

    def __init__(self, target: str):
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.server.getsockname()[1]}"
        self._sent = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = self._connect()
            if upstream is None:  # the registry refused for 5 s: this client gets a closed connection
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _connect(self) -> socket.socket | None:
        """The registry, asked again for a few seconds when it refuses (a loaded machine's listen queue); the
        proxy keeps accepting whatever happens, so one refusal never hangs every later client."""
        host, port = self.target.rsplit(":", 1)
        for _ in range(50):
            try:
                upstream = socket.create_connection((host, int(port)), timeout=10)
                upstream.settimeout(None)  # the timeout is for connecting; a pump waits as long as its peer
                return upstream
            except OSError:
                time.sleep(0.1)
        return None

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self._lock:
                        self._sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def sent(self) -> bytes:
        with self._lock:
            return bytes(self._sent)

    def authorizations(self) -> set[str]:
        return {m.decode() for m in re.findall(rb"(?im)^authorization: *([^\r\n]*)", self.sent())}

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def registries(tmp_path, test_base_image):
    """(home, other): the `tars.registry` registry (TARS_* credentials) and one a values.yaml names."""
    home = RegistryProcess(tmp_path / "reg-home", htpasswd=(TARS_USER, TARS_PASS))
    other = RegistryProcess(tmp_path / "reg-other", htpasswd=(TEAM_USER, TEAM_PASS))
    proxies = RecordingProxy(home.host), RecordingProxy(other.host)
    yield proxies
    for p in proxies:
        p.close()
    home.stop()
    other.stop()


def monorepo(root: Path, registry: str, services: dict[str, str]) -> Cli:
    images = "\n".join(f"    {t}: {TEST_BASE_IMAGE}" for t in SERVER_TYPES)
    root.mkdir(parents=True)
    (root / "tasks.py").write_text((REPO_ROOT / "tasks.py").read_text())
    (root / "invoke.yaml").write_text(f"tars:\n  registry: {registry}\n  base_images:\n{images}\n")
    for sid, body in services.items():
        app, server = sid.split(".")
        folder = root / "services" / app / server
        folder.mkdir(parents=True)
        (folder / "values.yaml").write_text(f"app: {app}\nserver: {server}\ntemplate: tars.cpp\n{body}")
        (folder / server).write_text(f"#!/bin/sh\necho {sid}\n")
    init_git(root)
    return Cli(root)


def env_with(tmp_path: Path, docker_auths: dict[str, tuple[str, str]] | None = None, **extra: str) -> dict:
    """The tool's environment: TARS_* credentials and a docker config of this test's own."""
    cfg = tmp_path / "docker-config"
    cfg.mkdir(exist_ok=True)
    auths = {host: {"auth": base64.b64encode(f"{u}:{p}".encode()).decode()}
             for host, (u, p) in (docker_auths or {}).items()}
    (cfg / "config.json").write_text(json.dumps({"auths": auths}))
    return {"TARS_REGISTRY_USERNAME": TARS_USER, "TARS_REGISTRY_PASSWORD": TARS_PASS, "DOCKER_CONFIG": str(cfg),
            **extra}


def test_credentials_reach_only_the_configured_registry(tmp_path, registries, namespace):
    home, other = registries
    cli = monorepo(tmp_path / "mono", f"{home.host}/{namespace}", {
        "Base.Home": "",
        "Pay.PayServer": f"repo:\n  image: {other.host}/{namespace}/team/pay\n",
    })
    env = env_with(tmp_path)

    plan = cli("plan", "--dry-run", "--json", env=env)
    assert plan.returncode == 0, plan.stderr
    assert home.authorizations() == {basic(TARS_USER, TARS_PASS)}
    assert other.authorizations() == set()
    reasons = {s["id"]: s["reasons"] for s in json.loads(plan.stdout)["services"]}
    assert (f"image tag not in registry (registry {other.host} needs credentials for {namespace}/team/pay "
            "(docker login, or TARS_REGISTRY_USERNAME/TARS_REGISTRY_PASSWORD for tars.registry))"
            in reasons["Pay.PayServer"])

    build = cli("build", "--json", env=env)
    assert build.returncode == 1
    status = {i["service"]: i["status"] for i in json.loads(build.stdout)["images"]}
    assert status == {"Base.Home": "pushed", "Pay.PayServer": "failed"}
    assert home.authorizations() == {basic(TARS_USER, TARS_PASS)}  # our checks and the engine's push
    assert other.authorizations() == set()
    assert TARS_PASS.encode() not in other.sent() and base64.b64encode(TARS_PASS.encode()) not in other.sent()

    # the other registry gets what the docker config holds for exactly its host, and nothing else
    env = env_with(tmp_path, {other.host: (TEAM_USER, TEAM_PASS), home.host: ("wrong", "not-for-home-0")})
    again = cli("build", "--json", env=env)
    assert again.returncode == 0, again.stderr
    status = {i["service"]: i["status"] for i in json.loads(again.stdout)["images"]}
    assert status == {"Base.Home": "exists", "Pay.PayServer": "pushed"}
    assert other.authorizations() == {basic(TEAM_USER, TEAM_PASS)}
    assert home.authorizations() == {basic(TARS_USER, TARS_PASS)}
    assert b"tars-env-pass" not in other.sent()


def test_no_secret_value_in_anything_the_tool_wrote(tmp_path, registries, namespace):
    home, _ = registries
    show = ('echo "pw=[$TARS_REGISTRY_PASSWORD] user=[$TARS_REGISTRY_USERNAME] cfg=[$DOCKER_CONFIG]"; '
            'echo "npm=$(cat "$TARS_SECRETS_DIR/NPM_TOKEN")"; echo "copies $PW_COPY $CFG_COPY"; ')
    cli = monorepo(tmp_path / "mono", f"{home.host}/{namespace}", {
        "Base.Ok": ("build:\n  command: [sh, -c, " + json.dumps(show) + "]\n"
                    "  env: [PW_COPY, CFG_COPY]\n  secrets: [NPM_TOKEN]\n"),
        "Base.Bad": ("build:\n  command: [sh, -c, " + json.dumps(show + "echo failing with $PW_COPY; exit 3") + "]\n"
                     "  env: [PW_COPY, CFG_COPY]\n  secrets: [NPM_TOKEN]\n"),
    })
    env = env_with(tmp_path, {"127.0.0.9:1": (TEAM_USER, TEAM_PASS)},
                   NPM_TOKEN=NPM_TOKEN, PW_COPY=TARS_PASS, CFG_COPY=TEAM_PASS)
    result = cli("build", "--json", env=env)
    assert result.returncode == 1
    images = {i["service"]: i for i in json.loads(result.stdout)["images"]}
    assert {k: i["status"] for k, i in images.items()} == {"Base.Ok": "pushed", "Base.Bad": "failed"}
    assert images["Base.Bad"]["reason"] == (f"build.command 'sh -c {show}echo failing with $PW_COPY; exit 3' failed "
                                            "(exit 3): npm=*** | copies *** *** | failing with ***")
    log = (cli.root / "dist/logs/Base.Ok.build.log").read_text()
    assert "pw=[] user=[] cfg=[]" in log  # the compile step never sees the credentials or the docker config
    assert "npm=***" in log and "copies *** ***" in log
    written = {"stdout": result.stdout.encode(), "stderr": result.stderr.encode()}
    written |= {str(p): p.read_bytes() for p in (cli.root / "dist").rglob("*") if p.is_file()}
    for secret in (TARS_PASS, TEAM_PASS, NPM_TOKEN):
        forms = [secret.encode(), base64.b64encode(secret.encode()).rstrip(b"=")]
        assert [name for name, data in written.items() if any(f in data for f in forms)] == [], secret


def test_tags_are_immutable_unless_overwrite_tag(tmp_path, registry, namespace, test_base_image):
    cli = monorepo(tmp_path / "mono", f"{registry.host}/{namespace}", {"Base.Tagged": ""})
    binary = cli.root / "services/Base/Tagged/Tagged"
    ref = f"{registry.host}/{namespace}/base/tagged:v1.0.0"

    def fingerprint() -> str:
        plan = cli("plan", "--dry-run", "--all", "--json")
        return json.loads(plan.stdout)["services"][0]["fingerprint"]

    first = cli("build", "--tag", "v1.0.0", "--json")
    assert first.returncode == 0, first.stderr
    old = fingerprint()
    binary.write_text("#!/bin/sh\necho changed\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "2"], cwd=cli.root, check=True)
    new = fingerprint()
    second = cli("build", "--tag", "v1.0.0", "--json")
    assert second.returncode == 1
    reason = json.loads(second.stdout)["images"][0]["reason"]
    assert reason == (f"{ref} already exists in the registry with other content (fingerprint {old[:16]}; this build "
                      f"is {new[:16]}): tags are immutable, use a new --tag (or --overwrite-tag to replace it)")
    plan = json.loads(cli("plan", "--dry-run", "--all", "--tag", "v1.0.0", "--json").stdout)["services"][0]
    assert plan["steps"][:1] == ["build"] and any("already exists in the registry" in r for r in plan["reasons"])

    forced = cli("build", "--tag", "v1.0.0", "--overwrite-tag", "--json")
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["images"][0]["status"] == "pushed"
    assert json.loads(cli("build", "--tag", "v1.0.0", "--json").stdout)["images"][0]["status"] == "exists"

    # not pushing: the local engine's image is the one that must not lie
    assert cli("build", "--no-push", "--tag", "dev1").returncode == 0
    binary.write_text("#!/bin/sh\necho changed again\n")
    local = cli("build", "--no-push", "--tag", "dev1", "--json")
    assert local.returncode == 1
    assert json.loads(local.stdout)["images"][0]["reason"].startswith(
        f"{registry.host}/{namespace}/base/tagged:dev1 already exists in the local engine with other content")
