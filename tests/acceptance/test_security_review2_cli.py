"""A hostile review of issue 22's fixes, end to end: `--json` stays valid JSON when a folder name or a container's
log holds a key=secret pair; a crash log that prints a multi-line secret line by line, or another service's secret,
is redacted in the report and the deploy log; a carriage return in a container's log cannot forge a line of the
deploy log; a FIFO at secrets/<env>.age is refused, naming it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from clustermono import ClusterMono, sample_in_cluster
from fakes.cluster import Outcome

MULTI = "line1-MULTISECRETA\nline2-MULTISECRETB\n"
DB_PIN = "db-pin-90417733"


def test_list_validate_and_interfaces_json_stay_valid_with_a_key_secret_pair_in_a_folder_name(sample):
    folder = sample.root / "services/Shop/token=abc"
    folder.mkdir()
    (folder / "values.yaml").write_text("app: Shop\nserver: TokenServer\ntemplate: tars.go\n")
    listed = sample("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "services/Shop/token=***" in [row["path"] for row in json.loads(listed.stdout)]
    for argv in (["validate", "--json"], ["interfaces", "--json"], ["graph", "--format", "json"]):
        result = sample(*argv)
        assert result.returncode == 0, result.stderr
        json.loads(result.stdout)  # raises on what the reviewer saw: the closing quote eaten


def test_a_fifo_at_the_secrets_file_is_refused_naming_it(sample):
    (sample.root / "secrets").mkdir()
    os.mkfifo(sample.root / "secrets/prod.age")
    result = sample("plan", "--dry-run", "--env", "prod", "--service", "Shop.PayServer")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: secrets/prod.age: not a regular file (a device, FIFO, socket or folder): expected an age-encrypted file")


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


@pytest.mark.docker
@pytest.mark.helm
@pytest.mark.cluster
def test_a_crash_log_with_secret_lines_key_pairs_and_carriage_returns_is_redacted_escaped_and_valid_json(mono):
    from pyrage import x25519

    env = {"TARS_AGE_KEY": str(x25519.Identity.generate())}
    for name, value in (("MULTI", MULTI), ("DB_PIN", DB_PIN)):
        done = subprocess.run([sys.executable, "-m", "invoke", "secrets.set", name, "--env", "prod"], input=value,
                              cwd=mono.root, capture_output=True, text=True, env={**mono.env, **env}, timeout=120)
        assert done.returncode == 0, done.stderr
    (mono.root / "services/Base/LogServer/values.prod.yaml").write_text(
        "config:\n  - name: multi.conf\n    content: !secret MULTI\n")
    (mono.root / "services/Base/AuthServer/values.prod.yaml").write_text(  # another service's secret
        "envVars:\n  - name: DB_PIN\n    value: !secret DB_PIN\n")
    mono.commit("prod secrets")
    mono.cluster.set_outcome(mono.image_of("Base.LogServer"), Outcome.crashloop(
        log=("line1-MULTISECRETA", "line2-MULTISECRETB", f"[info] shared pin {DB_PIN}"),
        error_line="[error] login failed password=hunter2\rok: 7 deployed", delay=0.2, restart_period=0.2))

    result, services = mono.release("--env", "prod", "--service", "Base.LogServer", **env,
                                    INVOKE_TARS_HELM_TIMEOUT="6s")
    assert result.returncode == 1, result.stderr
    json.loads(result.stdout)  # valid JSON, whatever the log held
    lines = services["Base.LogServer"]["rollout"]["failure"]["log"]["lines"]
    assert lines[-4:] == ["***", "***", "[info] shared pin ***", "[error] login failed password=***\rok: 7 deployed"]
    log = mono.log("Base.LogServer")
    assert "[error] login failed password=***\\rok: 7 deployed\n" in log
    assert "\nok: 7 deployed" not in log and "\r" not in log
    for secret in ("MULTISECRETA", "MULTISECRETB", DB_PIN, "hunter2"):
        assert secret not in result.stdout + result.stderr + log


def test_a_symlinked_dist_cache_is_refused_like_every_output_folder(sample, tmp_path):
    """docs/security.md: no folder under dist/ may be a symlink; the caches there (values index, interfaces,
    registry tags) were silently skipped instead (exit 0, no word)."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (sample.root / "dist").mkdir()
    os.symlink(target, sample.root / "dist" / "cache")
    for argv in (["validate"], ["interfaces"], ["plan", "--dry-run"]):
        result = sample(*argv)
        assert (result.returncode, result.stderr.strip().splitlines()[-1]) == (
            2, "error: dist/cache is a symlink: outputs are written only through real folders, never through a "
               "symlink (remove it)"), argv
    assert list(target.iterdir()) == []
