"""Secrets: `!secret NAME` and `${secret:NAME}` references, resolved from TARS_SECRET_<NAME> then secrets/<env>.age,
keyed into chart versions, written for helm in a 0600 file, redacted by value; `secrets.set` / `secrets.edit`."""
import json
import os
import stat
import subprocess
import sys

import pyrage
import pytest
import yaml
from pyrage import x25519

from support import REPO_ROOT, Monorepo
from tars_tasks.chart.package import assemble, chart_values
from tars_tasks.core.errors import InputError, UsageError
from tars_tasks.core.redact import redact_text
from tars_tasks.core.secret_files import edit_secrets, read_all, set_secret
from tars_tasks.core.secrets import SecretSource, resolve, substitute, values_document

ENVS = {"prod": {"namespace": "tars-prod"}}
CONTENT = "user = app\npassword = ${secret:DB_PASS}\n"


@pytest.fixture
def mono(tmp_path):
    m = Monorepo(tmp_path)
    m.service("A", "Db", 'servants:\n  - {name: Obj, port: 10000}\nconfig:\n'
                         '  - name: db.conf\n    content: "user = app\\npassword = ${secret:DB_PASS}\\n"\n')
    m.service("A", "Auth", "servants:\n  - {name: Obj, port: 10000}\nconfig:\n"
                           "  - name: auth.conf\n    content: !secret AUTH_CONF\n")
    m.service("A", "Plain", "servants:\n  - {name: Obj, port: 10000}\n")
    return m


@pytest.fixture
def identity():
    return x25519.Identity.generate()


def loaded(mono, environ, dry_run=False):
    project = mono.load(environments=ENVS, env="prod")
    notes = resolve(project.services, SecretSource(mono.root, "prod", environ), dry_run)
    return project, notes


def versions(mono, environ):
    project, _ = loaded(mono, environ)
    return {s.id: assemble(s, project.settings, "v1").version for s in project.services}


def test_both_spellings_are_one_reference_and_valid_values(mono):
    project = mono.load(environments=ENVS, env="prod")
    assert project.problems == []
    by_id = project.by_id()
    assert by_id["A.Auth"].values["config"][0]["content"] == "${secret:AUTH_CONF}"
    assert by_id["A.Db"].values["config"][0]["content"] == CONTENT


def test_env_var_first_then_the_age_file(mono, identity):
    mono.write("secrets/prod.age", pyrage.encrypt(b"AUTH_CONF: from-age-file\nDB_PASS: from-age-db\n",
                                                  [identity.to_public()]))
    project, notes = loaded(mono, {"TARS_SECRET_DB_PASS": "from-env-var", "TARS_AGE_KEY": str(identity)})
    by_id = project.by_id()
    assert (by_id["A.Db"].secrets, by_id["A.Auth"].secrets, by_id["A.Plain"].secrets, notes) == (
        {"DB_PASS": "from-env-var"}, {"AUTH_CONF": "from-age-file"}, {}, [])
    assert redact_text("x from-env-var from-age-file") == "x *** ***"


def test_an_age_key_file_works_like_the_variable(mono, identity, tmp_path):
    mono.write("secrets/prod.age", pyrage.encrypt(b"AUTH_CONF: a1b2c3\nDB_PASS: d4e5f6\n", [identity.to_public()]))
    key = tmp_path / "key.txt"
    key.write_text(f"# created: today\n# public key: {identity.to_public()}\n{identity}\n")
    project, _ = loaded(mono, {"TARS_AGE_KEY_FILE": str(key)})
    assert project.by_id()["A.Db"].secrets == {"DB_PASS": "d4e5f6"}


def test_a_missing_secret_is_located_where_it_is_referenced(mono):
    with pytest.raises(InputError) as caught:
        loaded(mono, {"TARS_SECRET_DB_PASS": "x1y2z3"})
    assert [str(p) for p in caught.value.problems] == [
        "services/A/Auth/values.yaml:8:14: config[0].content: secret AUTH_CONF is not set "
        "(set TARS_SECRET_AUTH_CONF or secrets/prod.age)"]


def test_a_dry_run_keeps_the_reference_and_notes_it(mono):
    project, notes = loaded(mono, {}, dry_run=True)
    assert notes == [
        "dry run: secret AUTH_CONF is not set (TARS_SECRET_AUTH_CONF or secrets/prod.age): A.Auth rendered with "
        "the reference ${secret:AUTH_CONF}; a release would stop here",
        "dry run: secret DB_PASS is not set (TARS_SECRET_DB_PASS or secrets/prod.age): A.Db rendered with "
        "the reference ${secret:DB_PASS}; a release would stop here"]
    assert project.by_id()["A.Db"].secrets == {}


def test_an_age_file_without_identity_is_a_usage_error(mono, identity):
    mono.write("secrets/prod.age", pyrage.encrypt(b"AUTH_CONF: q\n", [identity.to_public()]))
    with pytest.raises(UsageError, match=r"^secrets/prod.age needs an age identity: set TARS_AGE_KEY or "
                                         r"TARS_AGE_KEY_FILE$"):
        loaded(mono, {})
    with pytest.raises(UsageError, match=r"^secrets/prod.age: cannot decrypt with the identity"):
        loaded(mono, {"TARS_AGE_KEY": str(x25519.Identity.generate())})


def test_rotating_a_secret_changes_exactly_its_users_versions_and_never_shows_it(mono):
    environ = {"TARS_SECRET_DB_PASS": "first-pass", "TARS_SECRET_AUTH_CONF": "auth-conf"}
    before = versions(mono, environ)
    after = versions(mono, {**environ, "TARS_SECRET_DB_PASS": "second-pass"})
    assert {sid for sid in before if before[sid] != after[sid]} == {"A.Db"}
    project, _ = loaded(mono, environ)
    chart = assemble(project.by_id()["A.Db"], project.settings, "v1")
    assert b"first-pass" not in chart.values + chart.chart_yaml and b"${secret:DB_PASS}" in chart.values


def test_the_deploy_values_document_holds_whole_top_level_values(mono):
    project, _ = loaded(mono, {"TARS_SECRET_DB_PASS": "pw-1234", "TARS_SECRET_AUTH_CONF": "a"})
    db = project.by_id()["A.Db"]
    text = values_document(chart_values(db, project.settings, "v1"), db.secrets)
    assert json.loads(text) == {"config": [{"name": "db.conf", "content": "user = app\npassword = pw-1234\n"}]}
    plain = project.by_id()["A.Plain"]
    assert values_document(chart_values(plain, project.settings, "v1"), plain.secrets) is None


def test_substitute_leaves_unknown_references():
    assert substitute({"a": ["${secret:X}-${secret:Y}"]}, {"X": "1"}) == {"a": ["1-${secret:Y}"]}


def test_a_bad_secret_name_is_located(mono):
    mono.service("A", "Bad", "servants:\n  - {name: Obj, port: 10000}\nprofile: !secret 9lives\n")
    assert mono.problems() == ["services/A/Bad/values.yaml:6:10: YAML syntax error: !secret takes a NAME of letters, "
                               "digits and _ (not starting with a digit)"]


def test_set_and_edit_keep_the_file_encrypted_to_the_recipients(mono, identity):
    ci = x25519.Identity.generate()
    mono.write("secrets/prod.recipients", f"# team\n{identity.to_public()}\n{ci.to_public()}  # CI\n")
    environ = {"TARS_AGE_KEY": str(identity)}
    set_secret(mono.root, "prod", "DB_PASS", "pw: with colon", environ)
    assert b"pw: with colon" not in (mono.root / "secrets/prod.age").read_bytes()
    assert read_all(mono.root, "prod", {"TARS_AGE_KEY": str(ci)}) == {"DB_PASS": "pw: with colon"}

    seen = []

    def editor(path):
        seen.append(stat.S_IMODE(os.stat(path).st_mode))
        data = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump({**data, "AUTH_CONF": "new"}))

    assert edit_secrets(mono.root, "prod", editor, environ) is True
    assert seen == [0o600]
    assert read_all(mono.root, "prod", environ) == {"AUTH_CONF": "new", "DB_PASS": "pw: with colon"}
    assert edit_secrets(mono.root, "prod", lambda path: None, environ) is False


def test_cli_set_reads_stdin_and_needs_an_environment(mono, identity):
    mono.write("tasks.py", "from tars_tasks.tasks import ns, preflight  # noqa: F401\n")
    mono.write("invoke.yaml", "tars:\n  environments:\n    prod: {}\n")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TARS_AGE_KEY": str(identity)}
    run = subprocess.run([sys.executable, "-m", "invoke", "secrets.set", "DB_PASS", "--env", "prod"], cwd=mono.root,
                         input="cli-value\n", capture_output=True, text=True, env=env)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "DB_PASS set in secrets/prod.age\n")
    assert read_all(mono.root, "prod", env) == {"DB_PASS": "cli-value"}
    bare = subprocess.run([sys.executable, "-m", "invoke", "secrets.set", "DB_PASS"], cwd=mono.root, input="v\n",
                          capture_output=True, text=True, env=env)
    assert (bare.returncode, bare.stderr) == (
        2, "error: secrets belong to an environment: give --env NAME (or INVOKE_TARS_ENV)\n")
