"""`invoke secrets.edit --env E` and `invoke secrets.set NAME --env E` (value from stdin): the age-encrypted
secrets/<env>.age (core/secret_files.py). Nothing here prints a secret."""
from __future__ import annotations

import sys

from invoke import Collection, Context

from tars_tasks.cli.common import reports_errors, settings_of, tars_task
from tars_tasks.core.errors import UsageError


def _env(c: Context) -> str:
    settings = settings_of(c)
    if not settings.env:
        raise UsageError("secrets belong to an environment: give --env NAME (or INVOKE_TARS_ENV)")
    return settings.env


@tars_task(name="edit")
@reports_errors
def edit(c: Context) -> None:
    """Decrypt secrets/<env>.age to a 0600 temporary file, open $VISUAL/$EDITOR on it, encrypt it again."""
    from tars_tasks.core.secret_files import edit_secrets

    env = _env(c)
    changed = edit_secrets(settings_of(c).root, env)
    print(f"secrets/{env}.age {'updated' if changed else 'unchanged'}", file=sys.stderr)


@tars_task(name="set", positional=["name"], help={"name": "the secret's NAME (!secret NAME, ${secret:NAME})"})
@reports_errors
def set_(c: Context, name: str) -> None:
    """Set one secret of secrets/<env>.age to the value read from stdin (one trailing newline dropped)."""
    from tars_tasks.core.secret_files import set_secret

    env = _env(c)
    value = sys.stdin.read()
    value = value[:-1] if value.endswith("\n") else value
    if not value:
        raise UsageError("secrets.set reads the value from stdin: it was empty")
    path = set_secret(settings_of(c).root, env, name, value)
    print(f"{name} set in secrets/{path.name}", file=sys.stderr)


secrets = Collection("secrets", edit, set_)
