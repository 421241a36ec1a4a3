"""A hostile review of issue 22's fixes (security round 2), what needs no cluster and no docker: `--json` output
stays valid JSON whatever a key=secret pair or a secret value looks like once encoded; a multi-line secret is
hidden line by line; every secret of the environment is known to the redactor, not only the selected services'
ones; a FIFO at secrets/<env>.age is an error naming it."""
from __future__ import annotations

import io
import json
import os
import sys

import pytest

from tars_tasks.cli.common import redacted_output
from tars_tasks.cli.output import JsonReporter, status_text
from tars_tasks.core import redact
from tars_tasks.core.errors import UsageError
from tars_tasks.core.secrets import SecretSource, resolve


def printed(monkeypatch, *texts: str) -> str:
    """What the task prints (through the redacting stdout every task runs with), as a user's pipe gets it."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    with redacted_output():
        for text in texts:
            print(text, end="")
    return out.getvalue()


def test_json_output_is_valid_json_redacted_inside_its_strings(monkeypatch):
    redact.register_secret("731946")  # a PIN: its digits also occur in a number of the report
    rows = [{"id": "Shop.X", "path": "services/Shop/token=abc", "template": "tars.go", "dependsOn": []}]
    failure = {"lines": ["[error] login failed password=hunter2", "pin 731946", "seen password='a b'"],
               "revision": 17319461}
    out = printed(monkeypatch, JsonReporter().listing(rows), status_text(type("R", (), {
        "to_json": lambda self: failure})(), True))
    first, second = out.split("\n]\n")
    assert json.loads(first + "\n]")[0]["path"] == "services/Shop/token=***"
    assert json.loads(second) == {"lines": ["[error] login failed password=***", "pin ***", "seen password=***"],
                                  "revision": 17319461}


def test_a_key_secret_pair_in_text_keeps_the_quote_around_it(monkeypatch):
    out = printed(monkeypatch, 'folder "services/Shop/token=abc" refused, password="two words" given\n')
    assert out == 'folder "services/Shop/token=***" refused, password=*** given\n'


def test_a_multi_line_secret_is_hidden_line_by_line(monkeypatch):
    redact.register_secret("line1-MULTISECRETA\nline2-MULTISECRETB\n")
    monkeypatch.setenv("TARS_SECRET_CERT", "-----BEGIN-----\r\nMIIBVwIBADAN-ENVCERT\r\n-----END-----\r\n")
    assert redact.redact_text("[info] line2-MULTISECRETB") == "[info] ***"
    assert redact.redact_text("  line1-MULTISECRETA  ") == "  ***  "
    assert redact.redact_text("got MIIBVwIBADAN-ENVCERT") == "got ***"
    assert redact.redact_text("a\nb") == "a\nb"  # lines shorter than a secret are not needles


def age_env() -> dict[str, str]:
    from pyrage import x25519

    return {"TARS_AGE_KEY": str(x25519.Identity.generate())}


def test_every_secret_of_the_environment_is_redacted_not_only_the_selected_services(tmp_path):
    from tars_tasks.core.secret_files import set_secret

    environ = age_env()
    set_secret(tmp_path, "prod", "DB_PIN", "pin-58213977", environ)
    set_secret(tmp_path, "prod", "PAY_API_KEY", "sk_live_review2", environ)
    environ["TARS_SECRET_OTHER"] = "other-secret-4411"
    assert resolve([], SecretSource(tmp_path, "prod", environ), dry_run=False) == []  # no service selected
    assert redact.redact_text("db pin-58213977 key sk_live_review2 x other-secret-4411") == "db *** key *** x ***"


def test_a_fifo_at_the_secrets_file_is_an_error_naming_it_never_an_absent_file(tmp_path):
    from tars_tasks.core.secret_files import read_all, set_secret

    (tmp_path / "secrets").mkdir()
    os.mkfifo(tmp_path / "secrets" / "prod.age")
    environ = age_env()
    message = ("secrets/prod.age: not a regular file (a device, FIFO, socket or folder): expected an age-encrypted "
               "file")
    for env in ({}, environ):  # with or without an identity: the file is named, never waited on
        with pytest.raises(UsageError) as caught:
            SecretSource(tmp_path, "prod", env).get("PAY_API_KEY")
        assert str(caught.value) == message
    with pytest.raises(UsageError, match="secrets/prod.age: not a regular file"):
        read_all(tmp_path, "prod", environ)
    with pytest.raises(UsageError, match="secrets/prod.age: not a regular file"):
        set_secret(tmp_path, "prod", "X", "value", environ)
