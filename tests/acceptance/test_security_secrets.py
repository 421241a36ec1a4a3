"""Secrets that must not leak on the deploy side, against the fake cluster with the real helm (issue 22, items 1,
2 and 4): `diff` (text and --json) shows no resolved secret and no false TConfig difference for `!secret`; a
crash-looping server that prints its secret does not put it into the report or the deploy log; the resolved
values never exist as a file, not while tracking, not after a SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clustermono import ClusterMono, sample_in_cluster
from fakes.cluster import Outcome

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

API_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"
PIN = "731946"
CERT = "-----BEGIN KEY-----\nMIIBVwIBADANBgkqhkiG9w0BAQEF\n-----END KEY-----\n"
SERVICE = ("--service", "Base.LogServer")


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


def with_prod_secrets(mono: ClusterMono) -> dict[str, str]:
    """LogServer's prod overlay: an inline `${secret:...}` under a key nothing masks by name, an env var from
    `!secret`, and a whole multi-line TConfig from `!secret`. Returns the environment a run needs."""
    (mono.root / "invoke.yaml").write_text("tars:\n  namespace: tars\n  environments:\n    staging: {}\n    prod: {}\n")
    (mono.root / "services/Base/LogServer/values.prod.yaml").write_text(
        "replicas: 2\n"
        "envVars:\n  - name: PIN\n    value: !secret PAY_PIN\n"
        "config:\n"
        "  - name: pay.conf\n"
        '    content: "endpoint = https://merchant:${secret:PAY_API_KEY}@pay.example.com/v1\\n"\n'
        "  - name: cert.pem\n    content: !secret PAY_CERT\n")
    mono.commit("prod secrets")
    return {"TARS_SECRET_PAY_API_KEY": API_KEY, "TARS_SECRET_PAY_PIN": PIN, "TARS_SECRET_PAY_CERT": CERT}


def leaked(text: str) -> list[str]:
    """The secrets (or a line of the multi-line one) found in ``text``, JSON-escaped forms included."""
    forms = {API_KEY, PIN, *CERT.strip().splitlines()[1:2], json.dumps(CERT)[1:-1]}
    return sorted(f for f in forms if f in text)


def test_diff_shows_no_resolved_secret_and_no_false_tconfig_difference(mono):
    env = with_prod_secrets(mono)
    first, services = mono.release("--env", "prod", *SERVICE, **env)
    assert first.returncode == 0, first.stderr
    assert services["Base.LogServer"]["status"] == "deployed"
    overlay = mono.root / "services/Base/LogServer/values.prod.yaml"
    overlay.write_text(overlay.read_text().replace("replicas: 2", "replicas: 3"))

    text = mono("diff", "--env", "prod", *SERVICE, **env)
    as_json = mono("diff", "--env", "prod", "--json", *SERVICE, **env)
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    assert leaked(text.stdout + text.stderr) == []
    assert leaked(as_json.stdout + as_json.stderr) == []
    changed = [line for line in text.stdout.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    # what differs is the replica count (TServer and the TImage's release record), never a TConfig
    assert changed and all("replicas" in line or "TConfig" not in line for line in changed), text.stdout
    assert not [line for line in changed if "TConfig/" in line or "configContent" in line], text.stdout
    data = json.loads(as_json.stdout)
    assert [s["id"] for s in data["services"]] == ["Base.LogServer"]
    assert "replicas: 3" in data["services"][0]["diff"]


def test_a_crash_looping_server_that_prints_its_secret_is_redacted_in_report_and_log(mono):
    env = with_prod_secrets(mono)
    image = mono.image_of("Base.LogServer")
    mono.cluster.set_outcome(image, Outcome.crashloop(error_line=f"[error] login with {API_KEY} refused (pin {PIN})",
                                                      delay=0.2, restart_period=0.2))
    result, services = mono.release("--env", "prod", *SERVICE, **env, INVOKE_TARS_HELM_TIMEOUT="6s")
    assert result.returncode == 1
    failure = services["Base.LogServer"]["rollout"]["failure"]
    assert failure["log"]["lines"][-1] == "[error] login with *** refused (pin ***)"
    log = mono.log("Base.LogServer")
    assert "[error] login with *** refused (pin ***)" in log
    assert leaked(result.stdout + result.stderr + log) == []


def files_holding(folder: Path, needle: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        try:
            if path.is_file() and needle.encode() in path.read_bytes():
                found.append(str(path))
        except OSError:  # removed while looked at
            continue
    return found


def test_deploy_time_secret_values_never_touch_a_disk_even_when_killed(mono, tmp_path):
    env = with_prod_secrets(mono)
    temp = tmp_path / "tmp"
    temp.mkdir()
    mono.cluster.set_outcome(mono.image_of("Base.LogServer"), Outcome.ready(delay=4))  # a long tracking time
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "release", "--env", "prod", *SERVICE], cwd=mono.root,
                            env={**mono.env, **env, "TMPDIR": str(temp)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    tracking = False
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        seen += files_holding(temp, API_KEY)
        tracking = tracking or any(t["metadata"]["name"] == "base-logserver"
                                   for t in mono.cluster.objects("TServer", "tars"))
        if tracking and not seen:
            time.sleep(1.0)  # well into tracking: the secret file of old was there all along
            seen += files_holding(temp, API_KEY)
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert tracking, "the deploy never reached the cluster"
    assert seen == []
    assert files_holding(temp, API_KEY) == []  # and nothing left behind by the killed run
    assert [c["configContent"] for c in mono.cluster.objects("TConfig", "tars") if c["configName"] == "pay.conf"] \
        == [f"endpoint = https://merchant:{API_KEY}@pay.example.com/v1\n"]  # helm got it, on its stdin


def test_helms_release_record_holds_the_resolved_secrets_as_docs_security_says(mono):
    """docs/security.md: helm keeps the values it was given (here, on its stdin) in its release record, a Secret
    in the namespace: whoever may read Secrets there reads the resolved secrets."""
    env = with_prod_secrets(mono)
    result, _ = mono.release("--env", "prod", *SERVICE, **env)
    assert result.returncode == 0, result.stderr
    given = json.loads(mono.helm("get", "values", "base-logserver", "--namespace", "tars", "--output", "json"))
    assert {"name": "PIN", "value": PIN} in given["envVars"]
    assert any(API_KEY in c["content"] for c in given["config"])
    manifest = mono.helm("get", "manifest", "base-logserver", "--namespace", "tars")
    assert PIN in manifest  # the rendered TServer's env
    assert "kind: TConfig" not in manifest  # config versions live apart from the release (docs/configs.md) ...
    assert any(API_KEY in c["configContent"] for c in mono.cluster.objects("TConfig", "tars"))  # ... as TConfigs
    records = [s for s in mono.cluster.objects("Secret", "tars") if s["metadata"]["name"].startswith(
        "sh.helm.release.v1.base-logserver.")]
    assert [s["type"] for s in records] == ["helm.sh/release.v1"]
