"""Secrets in values: `!secret NAME` (a whole value) or `${secret:NAME}` (inside a string, e.g. TConfig content),
resolved at deploy time and never written where people or git can read them.

- Reading: the YAML tag `!secret NAME` is read as the string `${secret:NAME}`, so both spellings are one
  reference kind, a string field's schema still holds, and the packaged chart in dist/ carries the reference,
  never the value.
- Resolving, in order: the environment variable `TARS_SECRET_<NAME>`, else `secrets/<env>.age` (an age-encrypted
  YAML map of NAME: value, decrypted with the identity in `TARS_AGE_KEY` or the file `TARS_AGE_KEY_FILE`).
  Every value of the environment (all of `secrets/<env>.age` once it is decrypted, every TARS_SECRET_<NAME>) is
  registered for redaction by value (core/redact.py), not only those of the selected services: a server may print
  another's secret (a shared database PIN), and `deploy --service X` must hide what a full release hides.
  A missing one is a problem located where the reference is written, raised before any build; a dry run renders
  the reference instead, with a note.
- Deploying (and `diff`, which renders what a deploy would apply): the resolved values reach helm on its stdin
  (`--values -`), never in a file, as a values document holding, for each top-level chart value that contains a
  reference, that value with the references substituted (helm replaces lists whole, so the whole top-level value
  is given).
- Versions: the chart version includes an HMAC of the service's secret values, keyed with a key derived from the
  environment name and the age identity, so rotating a secret redeploys exactly the services that use it while
  the version reveals nothing that can be checked against a guess without the identity.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tars_tasks.core import yamlguard
from tars_tasks.core.errors import InputError, Problem, UsageError
from tars_tasks.core.redact import register_secret

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
REF = re.compile(r"\$\{secret:(" + NAME + r")\}")
VALID_NAME = re.compile(r"^" + NAME + r"$")
ENV_PREFIX = "TARS_SECRET_"
SECRETS_DIR = "secrets"
KEY_VARS = ("TARS_AGE_KEY", "TARS_AGE_KEY_FILE")


def reference(name: str) -> str:
    return f"${{secret:{name}}}"


def refs(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(path, secret name) of every reference in ``value``, in document order."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from refs(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from refs(child, (*path, index))
    elif isinstance(value, str) and "${secret:" in value:
        for match in REF.finditer(value):
            yield path, match.group(1)


def substitute(value: Any, secrets: Mapping[str, str]) -> Any:
    """``value`` with every reference whose secret is known replaced by its value."""
    if isinstance(value, dict):
        return {k: substitute(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, secrets) for v in value]
    if isinstance(value, str) and "${secret:" in value:
        return REF.sub(lambda m: secrets.get(m.group(1), m.group(0)), value)
    return value


def age_file(root: Path, env: str) -> Path:
    return root / SECRETS_DIR / f"{env}.age"


def recipients_file(root: Path, env: str) -> Path:
    return root / SECRETS_DIR / f"{env}.recipients"


def identity_text(environ: Mapping[str, str]) -> str:
    """The age identity (its AGE-SECRET-KEY-1... lines) from TARS_AGE_KEY, else the file TARS_AGE_KEY_FILE; ''."""
    if environ.get("TARS_AGE_KEY"):
        return environ["TARS_AGE_KEY"]
    path = environ.get("TARS_AGE_KEY_FILE")
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"TARS_AGE_KEY_FILE: cannot read {path}: {exc.strerror}") from None


def identities(text: str) -> list[Any]:
    """The x25519 identities of an age key file's text (comments and blank lines skipped)."""
    from pyrage import x25519

    keys = [line.strip() for line in text.splitlines() if line.strip().startswith("AGE-SECRET-KEY-")]
    for key in keys:  # hidden wherever it would show, even when the variable held comments around it
        register_secret(key)
    try:
        return [x25519.Identity.from_str(k) for k in keys]
    except Exception:  # noqa: BLE001 - pyrage raises its own error types; the key itself is never shown
        raise UsageError("TARS_AGE_KEY / TARS_AGE_KEY_FILE: not a valid age identity (AGE-SECRET-KEY-1...)") from None


def age_file_present(path: Path) -> bool:
    """Is there anything at ``path``? A FIFO, a folder or a dangling symlink is there too (and refused when read,
    never taken for "no secrets file")."""
    return os.path.lexists(path)


def read_age_bytes(path: Path, display: str) -> bytes:
    """The bytes of an age file: a regular file, else a UsageError naming it (a FIFO is not waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"{display}: cannot read: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise UsageError(f"{display}: not a regular file (a device, FIFO, socket or folder): expected an "
                             "age-encrypted file")
        try:
            return fh.read()
        except OSError as exc:
            raise UsageError(f"{display}: cannot read: {exc.strerror}") from None


def decrypt_map(path: Path, keys: Sequence[Any], display: str) -> dict[str, str]:
    """The NAME: value map of an age file."""
    return decrypt_data(read_age_bytes(path, display), keys, display)


def decrypt_data(data: bytes, keys: Sequence[Any], display: str) -> dict[str, str]:
    """The NAME: value map of an age file's bytes."""
    import pyrage

    try:
        plain = pyrage.decrypt(data, list(keys))
    except Exception:  # noqa: BLE001
        raise UsageError(f"{display}: cannot decrypt with the identity of TARS_AGE_KEY / TARS_AGE_KEY_FILE") from None
    return parse_map(plain, display)


def parse_map(plain: bytes, display: str) -> dict[str, str]:
    """A secrets map: NAME: string. Every value is the text written, byte for byte: the file is read with no
    implicit types (YAML 1.1 would turn `0123` into 83, `12:30` into 750, `1.50` into 1.5, `yes` into True, `~`
    into None), and quotes are only YAML's own. Anything else (a list, a map, a key written twice) is an error
    that shows no value."""
    try:
        text = plain.decode("utf-8")
        yamlguard.check(text, yaml.BaseLoader)
        data = yaml.load(text, Loader=yaml.BaseLoader) or {}  # noqa: S506 - BaseLoader builds only str/list/dict
    except yamlguard.StructureError as exc:
        raise UsageError(f"{display}: line {exc.line + 1}: {exc.message}") from None
    except (yaml.YAMLError, UnicodeDecodeError):
        raise UsageError(f"{display}: the decrypted content is not a YAML map of NAME: value") from None
    if not isinstance(data, dict):
        raise UsageError(f"{display}: the decrypted content is not a YAML map of NAME: value")
    out: dict[str, str] = {}
    for key, value in data.items():
        if not (isinstance(key, str) and VALID_NAME.match(key)) or not isinstance(value, str):
            raise UsageError(f"{display}: entry {str(key)[:40]!r}: expected NAME: string value")
        out[key] = value
    return out


class SecretSource:
    """Where one run's secrets come from: the environment, then `secrets/<env>.age` (decrypted once, lazily)."""

    def __init__(self, root: Path, env: str | None, environ: Mapping[str, str] | None = None):
        self.root, self.env = root, env
        self.environ = dict(os.environ if environ is None else environ)
        self._file: dict[str, str] | None = None

    def _from_file(self) -> dict[str, str]:
        if self._file is None:
            self._file = {}
            path = age_file(self.root, self.env) if self.env else None
            if path is not None and age_file_present(path):
                display = f"{SECRETS_DIR}/{path.name}"
                data = read_age_bytes(path, display)  # a FIFO or a folder is refused before anything else
                text = identity_text(self.environ)
                if not text:
                    raise UsageError(f"{display} needs an age identity: set TARS_AGE_KEY or TARS_AGE_KEY_FILE")
                self._file = decrypt_data(data, identities(text), display)
                for value in self._file.values():  # every secret of the environment, used here or not
                    register_secret(value)
        return self._file

    def register_all(self) -> None:
        """Every secret of the environment known to the redactor: each TARS_SECRET_<NAME>, and the values of
        secrets/<env>.age when an identity to decrypt it is set (without one, none of them is resolved either)."""
        for name, value in self.environ.items():
            if name.startswith(ENV_PREFIX):
                register_secret(value)
        if any(self.environ.get(k) for k in KEY_VARS):
            self._from_file()

    def get(self, name: str) -> str | None:
        value = self.environ.get(ENV_PREFIX + name)
        if value is not None:
            return value
        return self._from_file().get(name)

    def where(self, name: str) -> str:
        """Where a missing secret may be set, for messages."""
        places = [ENV_PREFIX + name]
        if self.env:
            places.append(f"{SECRETS_DIR}/{self.env}.age")
        return " or ".join(places)

    def hmac_key(self) -> bytes:
        identity = identity_text(self.environ) if any(self.environ.get(k) for k in KEY_VARS) else ""
        seed = f"tars-tasks secret versions\0{self.env or ''}\0{identity.strip()}".encode()
        return hashlib.sha256(seed).digest()


def secret_digest(values: Mapping[str, str], key: bytes) -> str:
    """The keyed hash of one service's secret values (empty: it uses none)."""
    if not values:
        return ""
    return hmac.new(key, json.dumps(dict(sorted(values.items()))).encode(), hashlib.sha256).hexdigest()


def resolve(services: Sequence[Any], source: SecretSource, dry_run: bool) -> list[str]:
    """Fill in each service's ``secrets`` and ``secret_digest``; return notes. A missing secret raises InputError
    located at its reference (a dry run notes it and keeps the reference)."""
    problems: list[Problem] = []
    missing: dict[str, list[str]] = {}
    key: bytes | None = None
    source.register_all()
    for service in services:
        found: dict[str, str] = {}
        for path, name in refs(service.values):
            value = source.get(name)
            if value is not None:
                found[name] = value
                register_secret(value)
            elif dry_run:
                missing.setdefault(name, []).append(service.id)
            else:
                problems.append(service.problem(list(path), f"secret {name} is not set (set {source.where(name)})"))
        if found and key is None:
            key = source.hmac_key()
        service.secrets = found
        service.secret_digest = secret_digest(found, key or b"")
        service.secret_hashes = {name: secret_digest({name: value}, key or b"") for name, value in found.items()}
    if problems:
        raise InputError(sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.path, p.message)))
    return [f"dry run: secret {name} is not set ({source.where(name)}): {', '.join(sorted(set(ids)))} rendered "
            f"with the reference {reference(name)}; a release would stop here" for name, ids in sorted(missing.items())]


def values_document(chart_values: Mapping[str, Any], secrets: Mapping[str, str]) -> str | None:
    """The deploy-time values of one service, as the JSON text helm reads from its stdin (`--values -`): every
    top-level chart value that holds a reference, with its secrets filled in. None when it uses no secret.
    It never touches a disk: a killed run leaves no plaintext file behind."""
    if not secrets:
        return None
    data = {k: substitute(v, secrets) for k, v in chart_values.items() if any(True for _ in refs(v))}
    return json.dumps(data, ensure_ascii=False) + "\n"
