"""Issue 12 (items 1, 2, 5, 8, 9-build): hostile paths, values files, compile steps and credentials.

No docker here: validation, fingerprints and build contexts are computed from the files; the compile step
runs real processes.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import Monorepo, init_git
from tars_tasks.core import redact
from tars_tasks.core.files import FileLister
from tars_tasks.image.artifacts import resolve
from tars_tasks.image.images import BuildError, build_context, compile_env, run_compile
from tars_tasks.image.registry import Registries, load_credentials
from tars_tasks.image.spec import parse_timeout

MARKER = "OUTSIDE-7f3a-SECRET"  # the content of every file outside the monorepo


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder next to the monorepo (not inside it) holding a file with MARKER."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "shadow").write_text(f"root:{MARKER}:19000:0:99999:7:::\nuser:{MARKER}2:19000\n")
    return folder


def problems(repo: Monorepo) -> list[str]:
    return [str(p) for p in repo.load().problems]


def test_paths_a_service_names_resolve_inside_the_monorepo(repo, outside):
    repo.service("Pay", "PayServer", """\
        build:
          files: ["/etc/shadow", "../../../x", "pw", "PayServer", "/tmp"]
          dockerfile: /etc/passwd
          inputs: ["/etc", "../x", "libs", "libs/leak"]
        """)
    folder = repo.root / "services/Pay/PayServer"
    (folder / "PayServer").write_text("binary")
    (folder / "pw").symlink_to(outside / "shadow")
    (folder / "conf").mkdir()
    (folder / "conf" / "link").symlink_to(outside / "shadow")  # not named: one of the files of the service
    repo.write("libs/ok.h", "int x;")
    (repo.root / "libs" / "leak").symlink_to(outside / "shadow")
    init_git(repo.root)
    f = "services/Pay/PayServer/values.yaml"
    assert problems(repo) == [
        f"{f}:5:3: build: 'conf/link' in PayServer/ is a symlink that resolves outside PayServer/: left out of the "
        "image and its tag; remove it or make it a file",
        f"{f}:5:11: build.files[0]: '/etc/shadow' is outside PayServer/ (paths are relative to the service folder; "
        "shared files are build.inputs)",
        f"{f}:5:26: build.files[1]: '../../../x' is outside PayServer/ (paths are relative to the service folder; "
        "shared files are build.inputs)",
        f"{f}:5:40: build.files[2]: 'pw' resolves outside PayServer/ through a symlink (only files inside the "
        "service folder go into its image)",
        f"{f}:5:59: build.files[4]: '/tmp' is outside PayServer/ (paths are relative to the service folder; "
        "shared files are build.inputs)",
        f"{f}:6:15: build.dockerfile: '/etc/passwd' is outside PayServer/ (paths are relative to the service "
        "folder)",
        f"{f}:7:12: build.inputs[0]: '/etc' is outside the repository (paths are relative to the repository root)",
        f"{f}:7:20: build.inputs[1]: '../x' is outside the repository (paths are relative to the repository root)",
        f"{f}:7:28: build.inputs[2]: 'libs/leak' is a symlink that resolves outside the repository: left out of "
        "the image and its tag",
        f"{f}:7:36: build.inputs[3]: 'libs/leak' resolves outside the repository through a symlink",
    ]


def test_a_symlink_covered_by_a_files_entry_is_located_there(repo, outside):
    repo.service("Pay", "PayServer", 'build:\n  files: ["bin"]\n')
    (repo.root / "services/Pay/PayServer/bin").mkdir()
    (repo.root / "services/Pay/PayServer/bin/pw").symlink_to(outside / "shadow")
    assert problems(repo) == [
        "services/Pay/PayServer/values.yaml:5:11: build.files[0]: 'bin/pw' in PayServer/ is a symlink that "
        "resolves outside PayServer/: left out of the image and its tag; remove it or make it a file"]


def test_symlinks_inside_their_boundary_are_fine(repo):
    repo.service("Pay", "PayServer", 'build:\n  files: ["app"]\n  inputs: ["libs"]\n')
    folder = repo.root / "services/Pay/PayServer"
    (folder / "real").write_text("x")
    (folder / "app").symlink_to("real")
    repo.write("libs/a.h", "a")
    (repo.root / "libs/b.h").symlink_to("a.h")
    init_git(repo.root)
    assert problems(repo) == []


def test_values_yaml_must_be_a_regular_file_inside_the_repo_under_the_limit(repo, outside):
    (repo.root / "services/A/Leak").mkdir(parents=True)
    (repo.root / "services/A/Leak/values.yaml").symlink_to(outside / "shadow")
    (repo.root / "services/A/Zero").mkdir(parents=True)
    (repo.root / "services/A/Zero/values.yaml").symlink_to("/dev/zero")
    (repo.root / "services/A/Fifo").mkdir(parents=True)
    os.mkfifo(repo.root / "services/A/Fifo/values.yaml")
    repo.write("devnull/x", "")
    repo.service("A", "Big", "profile: |\n" + "  x\n" * 600)
    found = [str(p) for p in repo.load(max_values_bytes=1000).problems]
    assert found == [
        "services/A/Big/values.yaml:1:1: 2449 bytes: larger than the limit of 1000 (tars.max_values_bytes)",
        "services/A/Fifo/values.yaml:1:1: not a regular file (a device, FIFO or socket): expected a YAML file",
        "services/A/Leak/values.yaml:1:1: resolves outside the repository (a symlink): only files inside the "
        "repository are read",
        "services/A/Zero/values.yaml:1:1: resolves outside the repository (a symlink): only files inside the "
        "repository are read",
    ]
    assert all(MARKER not in line for line in found)
    assert [str(p) for p in repo.load().problems if "Big" in p.file] == []  # 8 MiB by default


def test_max_values_bytes_setting_is_checked(repo):
    from tars_tasks.core.errors import UsageError

    with pytest.raises(UsageError, match=r"^tars.max_values_bytes: 'lots' is not an integer$"):
        repo.settings(max_values_bytes="lots")


# -- the fuzz test: no file outside the monorepo reaches a build context, fingerprint or error message --------

names = st.sampled_from(["a", "b", "dir", "dir/a", "pw", "x.txt", "."])
entries = st.one_of(
    names,
    st.sampled_from(["/etc/passwd", "/", "..", "../..", "../outside/shadow", "../../../outside", "dir/../..",
                     "./pw", "dir//a", "/tmp", "dir/../../PayServer/a"]),
    st.lists(st.sampled_from(["a", "..", ".", "dir", "pw", "outside", "shadow"]), min_size=1, max_size=4)
    .map("/".join),
)
# where a symlink points: inside the service, inside the repo, outside (file, folder), up-level chains
targets = st.sampled_from(["OUT/shadow", "OUT", "a", "dir", "dir/a", "../../../libs/l.h", "../../../libs",
                           "../../../../outside/shadow", "/etc/hostname", "../../..", "missing", "pw"])
link_places = st.sampled_from(["pw", "dir/pw", "lnk", "dir/lnk", "LIB/leak", "LIB/sub", "dir/up"])


@st.composite
def hostile_repos(draw):
    links = draw(st.dictionaries(link_places, targets, max_size=4))
    files = draw(st.lists(entries, min_size=1, max_size=4))
    inputs = draw(st.lists(st.one_of(st.sampled_from(["libs", "libs/leak", "libs/sub", "/etc", "../outside"]),
                                     entries), max_size=3))
    dockerfile = draw(st.one_of(st.none(), entries))
    return links, files, inputs, dockerfile


def _make(root: Path, outside: Path, links: dict, files: list, inputs: list, dockerfile: str | None) -> Monorepo:
    repo = Monorepo(root)
    build = {"files": files, "inputs": inputs}
    if dockerfile:
        build["dockerfile"] = dockerfile
    repo.service("Pay", "PayServer", "build: " + json.dumps(build) + "\n")
    folder = root / "services/Pay/PayServer"
    (folder / "a").write_text("service file a")
    (folder / "dir").mkdir()
    (folder / "dir" / "a").write_text("service file dir/a")
    repo.write("libs/l.h", "lib")
    for place, target in links.items():
        path = (root / "libs" / place[4:]) if place.startswith("LIB/") else folder / place
        if os.path.lexists(path):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(str(outside) + target[3:] if target.startswith("OUT") else target)
    return repo


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=hostile_repos(), git=st.booleans())
def test_fuzz_nothing_from_outside_reaches_context_fingerprint_or_message(case, git):
    links, files, inputs, dockerfile = case
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp) / "outside"
        outside.mkdir()
        (outside / "shadow").write_text(MARKER)
        repo = _make(Path(tmp) / "mono", outside, links, files, inputs, dockerfile)
        if git:
            init_git(repo.root)
        project = repo.load()
        messages = "\n".join(str(p) for p in project.problems)
        assert MARKER not in messages and str(outside) not in messages
        service = project.services[0]

        def fingerprint() -> str:
            return resolve(project.settings, [service], lister=FileLister(repo.root))[service.id].fingerprint

        before = fingerprint()
        (outside / "shadow").write_text(MARKER + " changed")  # content outside: never part of the tag
        assert fingerprint() == before
        artifact = resolve(project.settings, [service], lister=FileLister(repo.root))[service.id]
        try:
            context = build_context(artifact, repo.root, FileLister(repo.root))
        except BuildError as exc:
            assert MARKER not in str(exc) and str(outside) not in str(exc)
            return
        with tarfile.open(fileobj=io.BytesIO(context)) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member).read() if member.isfile() else b""
                assert MARKER.encode() not in data, member.name


# -- the compile step ---------------------------------------------------------------------------------------

def test_compile_env_is_minimal_and_secrets_are_files(tmp_path):
    environ = {"PATH": "/usr/bin:/bin", "HOME": "/home/ci", "LANG": "C.UTF-8", "GOFLAGS": "-mod=vendor",
               "TARS_REGISTRY_PASSWORD": "reg-pass-123", "NPM_TOKEN": "npm-tok-456", "KUBECONFIG": "/k"}
    env = compile_env(["GOFLAGS", "UNSET"], ["NPM_TOKEN"], environ, tmp_path)
    assert env == {"PATH": "/usr/bin:/bin", "HOME": "/home/ci", "LANG": "C.UTF-8", "GOFLAGS": "-mod=vendor",
                   "TARS_SECRETS_DIR": str(tmp_path)}
    assert (tmp_path / "NPM_TOKEN").read_text() == "npm-tok-456"
    assert oct((tmp_path / "NPM_TOKEN").stat().st_mode & 0o777) == "0o600"
    assert redact.redact_text("npm said npm-tok-456") == "npm said ***"
    with pytest.raises(BuildError, match=r"^build.secrets: GH_TOKEN not set in the environment$"):
        compile_env([], ["GH_TOKEN"], environ, tmp_path)


def test_compile_output_is_read_until_exit_not_until_a_background_child_closes_stdout(tmp_path):
    log = io.StringIO()
    code, tail = run_compile(["sh", "-c", "sleep 600 & echo child=$!; echo done"], tmp_path,
                             {"PATH": os.environ["PATH"]}, 1800, log)
    child = int(log.getvalue().split("child=")[1].split()[0])
    try:
        assert (code, tail[-1]) == (0, "done")
        os.kill(child, 0)  # the background child was left running (a gradle daemon, say), not waited for
    finally:
        os.kill(child, signal.SIGKILL)


def test_compile_timeout_kills_the_process_group(tmp_path):
    log = io.StringIO()
    code, tail = run_compile(["sh", "-c", "sleep 600 & echo child=$!; wait"], tmp_path,
                             {"PATH": os.environ["PATH"]}, 1, log)
    child = int(log.getvalue().split("child=")[1].split()[0])
    assert code is None and tail == [f"child={child}"]
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # killed with its group; reaped by init shortly after
            os.kill(child, 0)
            subprocess.run(["sleep", "0.1"])


def test_compile_output_is_redacted_by_value_line_by_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TARS_REGISTRY_PASSWORD", "hunter2-registry")
    log = io.StringIO()
    code, tail = run_compile(["sh", "-c", "echo pw=$PW; echo the password is $PW; exit 3"], tmp_path,
                             {"PATH": os.environ["PATH"], "PW": "hunter2-registry"}, 60, log)
    assert code == 3 and tail == ["pw=***", "the password is ***"]
    assert "hunter2" not in log.getvalue()


def test_build_timeout_values():
    assert [parse_timeout(v) for v in (None, 90, "90s", "10m", "1h30m", "abc", 0, True, "")] == [
        None, 90.0, 90.0, 600.0, 5400.0, None, None, None, None]


def test_build_keys_in_the_schema(repo):
    repo.service("A", "B", """\
        build:
          env: [GOFLAGS, "bad name"]
          secrets: [NPM_TOKEN]
          timeout: soon
        """)
    assert problems(repo) == [
        "services/A/B/values.yaml:5:18: build.env[1]: 'bad name' is invalid: expected an environment variable name "
        "(letters, digits and _, not starting with a digit)",
        "services/A/B/values.yaml:7:12: build.timeout: 'soon' is invalid: expected how long the whole build may take "
        "(compile step, image build, push): seconds, or a duration such as 90s, 10m, 1h30m (default 30m)",
    ]


# -- credentials ----------------------------------------------------------------------------------------------

def test_credentials_go_only_to_their_registry(tmp_path):
    import base64

    (tmp_path / "config.json").write_text(json.dumps({"auths": {
        "other.io:5109": {"auth": base64.b64encode(b"team:docker-cfg-pass").decode()}}}))
    env = {"TARS_REGISTRY_USERNAME": "ci", "TARS_REGISTRY_PASSWORD": "tars-env-pass", "DOCKER_CONFIG": str(tmp_path)}
    registries = Registries(env, home="home.io:5000/team")
    assert registries.push_auth("home.io:5000/team/pay") == {"username": "ci", "password": "tars-env-pass"}
    assert registries.push_auth("other.io:5109/team/pay") == {"username": "team", "password": "docker-cfg-pass"}
    assert registries.push_auth("127.0.0.1:5109/team/pay") is None
    assert Registries(env).push_auth("home.io:5000/team/pay") is None  # no home registry: env credentials unused
    assert load_credentials("home.io:5000", env, home="other.io:5109") is None
    # every password met is redacted by value
    assert redact.redact_text("x docker-cfg-pass y tars-env-pass") == "x *** y ***"
