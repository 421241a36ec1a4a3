"""Secrets never leak through helm argv or errors; registry names and credentials are read right."""
from __future__ import annotations

import base64
import json

import pytest

from tars_tasks.core.helm import Helm, HelmError, redact
from tars_tasks.image.registry import Registry, RegistryError, is_loopback, load_credentials, split_image


def test_redact_hides_secret_flags_and_pairs():
    argv = ["helm", "upgrade", "--set", "repo.secret=abc", "--password=hunter2", "--username", "bob",
            "x", "token=t0k3n", "--namespace", "ns"]
    shown = redact(argv)
    assert shown == ["helm", "upgrade", "--set", "***", "--password=***", "--username", "***", "x", "token=***",
                     "--namespace", "ns"]
    assert not any(s in " ".join(shown) for s in ("abc", "hunter2", "t0k3n", "bob"))


def test_helm_errors_keep_stderr_and_hide_secrets(tmp_path):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\necho 'Error: boom password=letmein' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(HelmError) as info:
        Helm(str(fake)).run(["upgrade", "x", "--set", "db.password=letmein"])
    message = str(info.value)
    assert "failed (exit 3): Error: boom password=***" in message
    assert "letmein" not in message


def test_helm_timeout_is_an_error(tmp_path):
    fake = tmp_path / "helm"
    fake.write_text("#!/bin/sh\nsleep 5\n")
    fake.chmod(0o755)
    with pytest.raises(HelmError, match="timed out after 1s"):
        Helm(str(fake)).run(["list"], timeout=1)


@pytest.mark.parametrize("image,expected", [
    ("127.0.0.1:5000/base/hello", ("127.0.0.1:5000", "base/hello")),
    ("registry.example.com/a/b/c", ("registry.example.com", "a/b/c")),
    ("localhost/x", ("localhost", "x")),
    ("tarscloud/hello", ("registry-1.docker.io", "tarscloud/hello")),
    ("busybox", ("registry-1.docker.io", "library/busybox")),
])
def test_split_image(image, expected):
    assert split_image(image) == expected


def test_loopback_registries_use_http():
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000") and not is_loopback("reg.io")
    assert Registry("127.0.0.1:5000").scheme == "http" and Registry("reg.io").scheme == "https"


def test_credentials_from_env_then_docker_config(tmp_path):
    env = {"TARS_REGISTRY_USERNAME": "u", "TARS_REGISTRY_PASSWORD": "p"}
    assert load_credentials("r:1", env, home="r:1/team").password == "p"
    assert load_credentials("r:2", env, home="r:1/team") is None  # TARS_REGISTRY_* are for tars.registry only
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"reg.io": {"auth": base64.b64encode(b"me:pw").decode()}}}))
    creds = load_credentials("reg.io", {"DOCKER_CONFIG": str(tmp_path)})
    assert (creds.username, creds.password) == ("me", "pw")
    assert "pw" not in repr(creds)
    assert load_credentials("other.io", {"DOCKER_CONFIG": str(tmp_path)}) is None


def test_unreachable_registry_is_a_clear_error():
    from support import free_port

    with pytest.raises(RegistryError, match=r"registry 127.0.0.1:\d+ unreachable: "):
        Registry(f"127.0.0.1:{free_port()}", timeout=2).has_tag("a/b", "t")


def test_progress_view_plain_and_live():
    import io

    from tars_tasks.cli.output import ProgressView

    plain = io.StringIO()
    view = ProgressView(["A.B", "C.D"], stream=plain, live=False)
    view("A.B", "image", "started")
    assert plain.getvalue().endswith("A.B: image started\n") and "\x1b" not in plain.getvalue()
    live = io.StringIO()
    view = ProgressView(["A.B", "C.D"], stream=live, live=True)
    view("A.B", "deploy", "started")
    view("C.D", "chart", "done")
    lines = live.getvalue().split("\n")
    assert "\x1b[2F" in live.getvalue()  # redraws the two lines in place
    assert lines[-3].startswith("\x1b[2F\x1b[2KA.B") and "deploy started" in lines[-3]
    assert "chart done" in lines[-2]
    view.close()
