"""Test support shared by unit and acceptance tests: paths, and throwaway monorepos."""
from __future__ import annotations

import os
import textwrap
import uuid
from pathlib import Path

from tars_tasks.core.settings import Settings
from tars_tasks.project import Project

REPO_ROOT = Path(__file__).resolve().parent.parent
CRDS_DIR = REPO_ROOT / "schema" / "crds"  # the one copy in git (the wheel ships it as tars_tasks/_bundled/schema/crds)

# Every image a test builds is named <registry>/<NAMESPACE_PREFIX><test's own id>/<app>/<server>: nothing a test
# asserts about the docker engine or a registry can be disturbed by another process (or another run of this
# suite) using the same engine and registries at the same time, and the session removes exactly its own images.
SESSION = uuid.uuid4().hex[:8]
NAMESPACE_PREFIX = f"tars-test-{SESSION}-"


def new_namespace() -> str:
    return NAMESPACE_PREFIX + uuid.uuid4().hex[:8]


def tool_env(extra: dict | None = None) -> dict[str, str]:
    """The environment of every subprocess that runs the tool: THIS checkout's tars_tasks first on the import
    path (never whichever checkout was last `pip install -e`'d), ahead of any PYTHONPATH the caller gives."""
    env = {**os.environ, **(extra or {})}
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *rest])
    return env


class Monorepo:
    """A throwaway monorepo under tmp_path: write service files, load the project."""

    def __init__(self, root: Path):
        self.root = root
        (root / "services").mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, text: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def service(self, app: str, server: str, body: str = "", folder: str | None = None, **kw) -> Path:
        head = f"app: {app}\nserver: {server}\ntemplate: tars.cpp\n"
        return self.write(f"services/{folder or f'{app}/{server}'}/values.yaml", head + textwrap.dedent(body))

    def settings(self, **overrides) -> Settings:
        return Settings.from_mapping({"root": str(self.root), **overrides})

    def load(self, **overrides) -> Project:
        return Project.load(self.settings(**overrides))

    def problems(self) -> list[str]:
        return [str(p) for p in self.load().problems]



def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 30, ok_statuses=(200, 401), header: tuple[str, str] | None = None,
              alive=lambda: True) -> bool:
    """Wait until `url` answers (with `header` when given: the server we started, not another one on the port).
    False when `alive()` says the server exited first."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    while alive():
        try:
            answer = urllib.request.urlopen(url, timeout=2).headers
        except urllib.error.HTTPError as exc:
            answer = exc.headers if exc.code in ok_statuses else None
        except OSError:
            answer = None
        if answer is not None and (header is None or answer.get(header[0]) == header[1]):
            return True
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.2)
    return False


class RegistryProcess:
    """A real CNCF distribution registry (Debian docker-registry) on a free loopback port, of this test's own.

    Each answers with a header naming it: a registry some other process runs on the port we picked (ports are
    free when picked, not when bound) is never mistaken for ours; we pick another port instead."""

    def __init__(self, workdir: Path, htpasswd: tuple[str, str] | None = None):
        import subprocess

        workdir.mkdir(parents=True, exist_ok=True)
        auth = ""
        if htpasswd:
            user, password = htpasswd
            line = subprocess.run(["htpasswd", "-Bbn", user, password], check=True, capture_output=True,
                                  text=True).stdout.strip()
            (workdir / "htpasswd").write_text(line + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: tars-tasks-test\n    path: {workdir / 'htpasswd'}\n"
        ident = uuid.uuid4().hex
        for _attempt in range(5):
            self.port = free_port()
            self.host = f"127.0.0.1:{self.port}"
            (workdir / "config.yml").write_text(
                f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
                f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n  headers:\n"
                f"    X-Tars-Test-Registry: [\"{ident}\"]\n{auth}")
            self.proc = subprocess.Popen(["docker-registry", "serve", str(workdir / "config.yml")],
                                         stdout=(workdir / "log").open("w"), stderr=subprocess.STDOUT)
            if wait_http(f"http://{self.host}/v2/", header=("X-Tars-Test-Registry", ident),
                         alive=lambda: self.proc.poll() is None):
                return
            self.stop()
        raise RuntimeError(f"no registry could start: {(workdir / 'log').read_text()[-500:]}")

    def tags(self, repository: str, auth: tuple[str, str] | None = None) -> list[str]:
        import base64
        import json as _json
        import urllib.error
        import urllib.request

        req = urllib.request.Request(f"http://{self.host}/v2/{repository}/tags/list")
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
        try:
            return sorted(_json.loads(urllib.request.urlopen(req, timeout=5).read()).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def ensure_docker() -> None:
    """Start dockerd (scripts/services.sh) when it is not running: tests use the real engine, never skip."""
    import subprocess

    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "services.sh"), "start"], check=True)


TEST_BASE_IMAGE = "tars-tasks-test/base:1"


def init_git(root: Path) -> None:
    import subprocess

    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        subprocess.run(argv, cwd=root, check=True, capture_output=True)


def copy_samples(dest: Path) -> Path:
    import shutil

    def build_outputs(folder: str, names: list[str]) -> list[str]:
        return [n for n in names if (n, Path(folder).name) in {("HelloServer", "HelloServer"),
                                                               ("OrderServer.jar", "OrderServer")}]

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "services", dest / "services", ignore=build_outputs)
    shutil.copy(REPO_ROOT / "tasks.py", dest / "tasks.py")
    shutil.copy(REPO_ROOT / "invoke.yaml", dest / "invoke.yaml")
    for folder in ("environments", "secrets"):  # the sample's environment-wide overlays (and secrets, if any)
        if (REPO_ROOT / folder).is_dir():
            shutil.copytree(REPO_ROOT / folder, dest / folder)
    return dest


def sample_envs() -> dict:
    """The sample's `tars.environments` (invoke.yaml), for Settings built in tests over the sample's services."""
    import yaml

    return yaml.safe_load((REPO_ROOT / "invoke.yaml").read_text())["tars"]["environments"]


def sample_environments() -> str:
    """The `environments:` block of the sample's invoke.yaml (under `tars:`), for tests that write an invoke.yaml of
    their own over the sample's services: the sample's overlays (values.<env>.yaml) need their environments."""
    text = (REPO_ROOT / "invoke.yaml").read_text()
    return text[text.index("\n  environments:\n") + 1:]


def tool_images(client, prefix: str) -> list[str]:
    """Tags of the images the tool built (they carry its service label) whose name starts with `prefix`,
    e.g. '127.0.0.1:5000/<test namespace>/': this test's images, whatever else the engine holds."""
    from tars_tasks.image.images import LABEL_SERVICE

    # one listing call (images.list() fetches each image again: racy when someone removes images meanwhile)
    listing = client.api.images(filters={"label": LABEL_SERVICE})
    return sorted(tag for image in listing for tag in image.get("RepoTags") or [] if tag.startswith(prefix))


def tool_image_events(client, since: float, prefix: str) -> list[str]:
    """Engine events (tag, push, pull, ...) since `since` of the tool's images named under `prefix`."""
    import time

    from tars_tasks.image.images import LABEL_SERVICE

    events = client.events(since=since, until=time.time() + 0.5, decode=True,
                           filters={"type": "image", "label": LABEL_SERVICE})
    return sorted(e["Action"] for e in events
                  if (e["Actor"]["Attributes"].get("name") or e["Actor"]["ID"]).startswith(prefix))
