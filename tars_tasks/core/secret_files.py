"""Managing `secrets/<env>.age`: `invoke secrets edit` and `invoke secrets set` (core/secrets.py reads it).

The file is encrypted to the recipients in `secrets/<env>.recipients` (one age public key `age1...` a line, `#`
comments), so a team and its CI can each hold their own identity; without that file, to the public key of the
identity in TARS_AGE_KEY / TARS_AGE_KEY_FILE. Decrypting needs that identity. Plain text exists only in a 0600
file inside a 0700 temporary folder while the editor runs, and is removed after.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from tars_tasks.core import fsio
from tars_tasks.core.errors import TarsError, UsageError
from tars_tasks.core.secrets import (
    SECRETS_DIR,
    VALID_NAME,
    age_file,
    age_file_present,
    decrypt_map,
    identities,
    identity_text,
    parse_map,
    recipients_file,
)

Editor = Callable[[Path], None]


def recipients(root: Path, env: str, environ: Mapping[str, str]) -> list[Any]:
    """Who the file is encrypted to: secrets/<env>.recipients, else the identity's public key."""
    from pyrage import x25519

    listed = recipients_file(root, env)
    if listed.is_file():
        keys = [line.split("#", 1)[0].strip() for line in listed.read_text(encoding="utf-8").splitlines()]
        try:
            found = [x25519.Recipient.from_str(k) for k in keys if k]
        except Exception:  # noqa: BLE001 - pyrage's own error types
            raise UsageError(f"{SECRETS_DIR}/{listed.name}: expected one age public key (age1...) a line") from None
        if not found:
            raise UsageError(f"{SECRETS_DIR}/{listed.name}: no recipient listed")
        return found
    text = identity_text(environ)
    if not text:
        raise UsageError("set TARS_AGE_KEY or TARS_AGE_KEY_FILE "
                         f"(or list recipients in {SECRETS_DIR}/{env}.recipients)")
    return [key.to_public() for key in identities(text)]


def read_all(root: Path, env: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets of ``env`` ({} when it has no file yet)."""
    path = age_file(root, env)
    if not age_file_present(path):
        return {}
    text = identity_text(environ)
    if not text:
        raise UsageError(f"{SECRETS_DIR}/{path.name} needs an age identity: set TARS_AGE_KEY or TARS_AGE_KEY_FILE")
    return decrypt_map(path, identities(text), f"{SECRETS_DIR}/{path.name}")


def write_all(root: Path, env: str, values: Mapping[str, str], environ: Mapping[str, str]) -> Path:
    import pyrage

    to = recipients(root, env, environ)
    plain = yaml.safe_dump(dict(sorted(values.items())), default_flow_style=False, allow_unicode=True).encode()
    path = age_file(root, env)
    fsio.write_atomic(path, pyrage.encrypt(plain, to), 0o644, root)
    return path


def set_secret(root: Path, env: str, name: str, value: str, environ: Mapping[str, str] | None = None) -> Path:
    """`secrets set NAME`: one secret of ``env`` added or replaced."""
    environ = dict(os.environ if environ is None else environ)
    if not VALID_NAME.match(name):
        raise UsageError(f"secret name {name!r}: letters, digits and _ only, not starting with a digit")
    values = read_all(root, env, environ)
    values[name] = value
    return write_all(root, env, values, environ)


def run_editor(environ: Mapping[str, str]) -> Editor:
    """$VISUAL / $EDITOR (default vi) on a file, without a shell."""
    argv = shlex.split(environ.get("VISUAL") or environ.get("EDITOR") or "vi")

    def edit(path: Path) -> None:
        try:
            code = subprocess.run([*argv, str(path)], check=False).returncode
        except OSError as exc:
            raise UsageError(f"cannot run the editor {argv[0]!r}: {exc.strerror}") from None
        if code != 0:
            raise TarsError(f"the editor exited with {code}: {SECRETS_DIR} left unchanged")

    return edit


def edit_secrets(root: Path, env: str, editor: Editor | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """`secrets edit`: decrypt to a 0600 temporary file, edit, check it is a NAME: value map, encrypt again.
    Returns whether anything changed (the file is not rewritten otherwise)."""
    environ = dict(os.environ if environ is None else environ)
    before = read_all(root, env, environ)
    recipients(root, env, environ)  # before the editor: nobody edits what cannot be saved
    with tempfile.TemporaryDirectory(prefix="tars-secrets-") as tmp:
        path = Path(tmp) / f"{env}.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(yaml.safe_dump(before, default_flow_style=False, allow_unicode=True) if before else
                      "# NAME: value, one a line (used as !secret NAME or ${secret:NAME})\n")
        (editor or run_editor(environ))(path)
        after = parse_map(path.read_bytes(), f"{SECRETS_DIR}/{env}.age (edited)")
    if after == before:
        return False
    write_all(root, env, after, environ)
    return True
