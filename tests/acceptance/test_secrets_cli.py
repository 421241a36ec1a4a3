"""Secrets against the fake cluster with the real helm: `${secret:NAME}` and `!secret NAME` resolved from
TARS_SECRET_<NAME> and from secrets/<env>.age reach the live TConfig, and their values appear nowhere else:
not under dist/ (charts unpacked), not in the plan, the JSON report, the logs or any output. Rotating a secret
redeploys exactly its users; a missing one fails before anything is built."""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from clustermono import ClusterMono, sample_in_cluster

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

FROM_ENV = "s3cr3t-from-env-Zq81"
FROM_AGE = "age-held-password-Wx42"
ROTATED = "rotated-env-secret-Kp07"
USERS = ("--service", "Base.LogServer", "--service", "Base.AuthServer")


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.2) as m:
        yield m


def with_secrets(mono: ClusterMono) -> dict[str, str]:
    """LogServer's db.conf holds `${secret:DB_PASSWORD}` inline, AuthServer's auth.conf is `!secret AUTH_CONF`
    (kept in secrets/prod.age); returns the environment a run needs."""
    # the sample's prod, in the namespace the fake cluster's tests look at
    (mono.root / "invoke.yaml").write_text("tars:\n  namespace: tars\n  environments:\n    staging: {}\n    prod: {}\n")
    log = mono.root / "services" / "Base" / "LogServer" / "values.yaml"
    log.write_text(log.read_text() + 'config:\n  - name: db.conf\n    content: "user = app\\npassword = ${secret:DB_PASSWORD}\\n"\n')
    auth = mono.root / "services" / "Base" / "AuthServer" / "values.yaml"
    auth.write_text(auth.read_text() + "config:\n  - name: auth.conf\n    content: !secret AUTH_CONF\n")
    identity = x25519.Identity.generate()
    (mono.root / "secrets").mkdir()
    (mono.root / "secrets" / "prod.age").write_bytes(pyrage.encrypt(f"AUTH_CONF: {FROM_AGE}\n".encode(),
                                                                    [identity.to_public()]))
    mono.commit("Secrets for prod")
    return {"TARS_SECRET_DB_PASSWORD": FROM_ENV, "TARS_AGE_KEY": str(identity)}


def config_content(mono: ClusterMono, name: str) -> list[str]:
    """The content of the config's activated version (earlier versions are the framework's history)."""
    mono.cluster.wait_for(lambda: sum(c["activated"] for c in mono.cluster.objects("TConfig", "tars")
                                      if c["configName"] == name) <= 1)
    return [c["configContent"] for c in mono.cluster.objects("TConfig", "tars") if c["configName"] == name
            and c["activated"]]


def everything_written(root: Path) -> str:
    """Every file under ``root`` (dist/), charts unpacked."""
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix == ".tgz":
            with tarfile.open(fileobj=io.BytesIO(path.read_bytes())) as tgz:
                out += [tgz.extractfile(m).read().decode() for m in tgz.getmembers() if m.isfile()]
        elif path.is_file():
            out.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(out)


def test_secrets_reach_the_live_tconfig_and_nothing_else(mono):
    env = with_secrets(mono)
    plan = mono("plan", "--env", "prod", "--json", "--out", str(mono.tmp / "plan.json"), *USERS, **env)
    assert plan.returncode == 0, plan.stderr
    result, services = mono.release("--env", "prod", *USERS, **env)
    assert result.returncode == 0, result.stderr
    assert {sid: s["status"] for sid, s in services.items()} == {"Base.AuthServer": "deployed",
                                                                 "Base.LogServer": "deployed"}
    assert config_content(mono, "db.conf") == [f"user = app\npassword = {FROM_ENV}\n"]
    assert config_content(mono, "auth.conf") == [FROM_AGE]
    diff = mono("diff", "--env", "prod", *USERS, **env)
    assert (diff.returncode, diff.stdout, diff.stderr.strip()) == (0, "", "no differences")
    shown = "\n".join([plan.stdout, plan.stderr, (mono.tmp / "plan.json").read_text(), result.stdout, result.stderr,
                       diff.stdout, diff.stderr, everything_written(mono.root / "dist")])
    assert "${secret:DB_PASSWORD}" in everything_written(mono.root / "dist")  # the chart holds the reference
    for secret in (FROM_ENV, FROM_AGE):
        assert secret not in shown


def test_rotating_a_secret_redeploys_exactly_its_users(mono):
    env = with_secrets(mono)
    first, _ = mono.release("--env", "prod", *USERS, **env)
    assert first.returncode == 0, first.stderr
    plan = mono("plan", "--env", "prod", "--json", *USERS, **{**env, "TARS_SECRET_DB_PASSWORD": ROTATED})
    assert plan.returncode == 0, plan.stderr
    assert '"changed": true' in plan.stdout
    again, services = mono.release("--env", "prod", *USERS, **{**env, "TARS_SECRET_DB_PASSWORD": ROTATED})
    assert again.returncode == 0, again.stderr
    assert {sid: s["status"] for sid, s in services.items()} == {"Base.AuthServer": "unchanged",
                                                                 "Base.LogServer": "deployed"}
    assert config_content(mono, "db.conf") == [f"user = app\npassword = {ROTATED}\n"]
    assert ROTATED not in again.stdout + again.stderr + plan.stdout + plan.stderr


def test_a_missing_secret_fails_before_any_build(mono):
    env = with_secrets(mono)
    del env["TARS_SECRET_DB_PASSWORD"]
    result = mono("release", "--env", "prod", *USERS, **env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "services/Base/LogServer/values.yaml:44:14: config[0].content: secret DB_PASSWORD is not set "
        "(set TARS_SECRET_DB_PASSWORD or secrets/prod.age)", "1 problem(s) found"]
    assert not (mono.root / "dist").exists()
    dry = mono("release", "--env", "prod", "--dry-run", *USERS, **env)
    assert dry.returncode == 0, dry.stderr
    assert ("note: dry run: secret DB_PASSWORD is not set (TARS_SECRET_DB_PASSWORD or secrets/prod.age): Base.LogServer "
            "rendered with the reference ${secret:DB_PASSWORD}; a release would stop here\n") in dry.stderr


def test_the_sample_dry_runs_prod_without_its_secret_and_never_shows_it_when_set(sample):
    bare = sample("release", "--env", "prod", "--dry-run", "--service", "Shop.PayServer")
    assert bare.returncode == 0, bare.stderr
    assert ("note: dry run: secret PAY_API_KEY is not set (TARS_SECRET_PAY_API_KEY or secrets/prod.age): "
            "Shop.PayServer rendered with the reference ${secret:PAY_API_KEY}; a release would stop here\n") in bare.stderr
    assert "not deployed in namespace tars-prod" in bare.stderr
    key = "pay-api-key-Rt55"
    given = sample("release", "--env", "prod", "--dry-run", "--json", "--service", "Shop.PayServer",
                   env={"TARS_SECRET_PAY_API_KEY": key})
    assert given.returncode == 0, given.stderr
    assert "secret PAY_API_KEY" not in given.stderr
    assert key not in given.stdout + given.stderr + everything_written(sample.root / "dist")
    base = sample("release", "--all", "--dry-run")  # the README's first command: no environment, no secret
    assert base.returncode == 0, base.stderr
