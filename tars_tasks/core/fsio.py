"""Writing the tool's outputs (logs, charts, plans) without following symlinks someone else planted.

dist/ sits in a checkout anyone with a merge request can shape: a committed `dist/logs/X.deploy.log ->
~/.bashrc` would make a plain ``open("w")`` overwrite a file outside the repo. Whole files are written to a
temporary file in the same folder and renamed over the destination (a rename replaces a symlink, never
its target); streamed logs are created afresh with O_CREAT|O_EXCL|O_NOFOLLOW after removing whatever was
there. A log that cannot be written is not a failure of the work it describes: ``open_log`` never raises,
it records the first error for the caller to report as a warning.

The folders on the way are no more trusted than the file: a committed `dist/charts -> /elsewhere` would have
every chart written into its target. Given ``within`` (the project root), every folder from there down to the
file must be a real folder, never a symlink (`real_folder`): such a path is refused, naming the symlink.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tars_tasks.core.errors import UsageError
from tars_tasks.core.escape import escape_lines
from tars_tasks.core.redact import redact_text


class SymlinkedFolder(UsageError):
    """A folder on the way to an output is a symlink (exit 2: the checkout must be fixed first)."""


def real_folder(folder: Path, within: Path | None) -> Path:
    """``folder``, created as needed, after checking that no folder from ``within`` down to it is a symlink
    (or something else than a folder). A ``folder`` outside ``within`` (an `--out` the user chose) or no
    ``within`` is only created."""
    if within is None:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    try:
        parts = folder.absolute().relative_to(within.absolute()).parts
    except ValueError:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    current = within.absolute()
    for part in parts:
        current = current / part
        shown = current.relative_to(within.absolute()).as_posix()
        if not os.path.lexists(current):
            with contextlib.suppress(FileExistsError):  # made by another thread meanwhile: checked again below
                current.mkdir()
            if current.is_symlink():
                raise SymlinkedFolder(f"{shown} became a symlink while it was made")
        _refuse(current, shown)
    return folder


def _refuse(current: Path, shown: str) -> None:
    if current.is_symlink():
        raise SymlinkedFolder(f"{shown} is a symlink: outputs are written only through real folders, never "
                              "through a symlink (remove it)")
    if not current.is_dir():
        raise SymlinkedFolder(f"{shown} is not a folder: outputs cannot be written under it (remove it)")


def refuse_symlinked(folder: Path, within: Path | None) -> None:
    """SymlinkedFolder when a folder that exists from ``within`` down to ``folder`` is a symlink (or not a folder),
    as `real_folder` says, creating nothing: for a cache (dist/cache), which is read as well as written, and whose
    content decides what a run skips, so it is refused before it is read, not only skipped when written."""
    if within is None:
        return
    try:
        parts = folder.absolute().relative_to(within.absolute()).parts
    except ValueError:
        return
    current = within.absolute()
    for part in parts:
        current = current / part
        if not os.path.lexists(current):
            return
        _refuse(current, current.relative_to(within.absolute()).as_posix())


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def write_atomic(path: Path, data: bytes, mode: int = 0o644, within: Path | None = None) -> None:
    """``data`` at ``path``, all or nothing: a temporary file in the same folder, renamed over the destination.
    A symlink at ``path`` is replaced by the new file, never followed; one on the way below ``within`` is
    refused (real_folder)."""
    real_folder(path.parent, within)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # O_EXCL: never follows a link
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str, within: Path | None = None) -> None:
    write_atomic(path, text.encode("utf-8"), within=within)


def create_fresh(path: Path, mode: int = 0o644, within: Path | None = None) -> int:
    """A new, empty file at ``path`` opened for writing: whatever was there (a file, a symlink) is removed
    first and the file is created with O_EXCL|O_NOFOLLOW, so nothing outside ``path`` is ever written (and
    no folder below ``within`` on the way is a symlink: real_folder)."""
    real_folder(path.parent, within)
    for _attempt in range(3):
        if os.path.lexists(path) and not path.is_dir() or path.is_symlink():
            os.unlink(path)
        try:
            return os.open(path, _CREATE, mode)
        except FileExistsError:  # recreated between unlink and open: once more
            continue
    raise FileExistsError(f"{path} keeps being recreated")


def create_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """``data`` in a new file at ``path``; FileExistsError when anything (a file, a symlink) is there already:
    nothing is ever overwritten, and no symlink is followed. The folder must exist."""
    fd = os.open(path, _CREATE, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        os.unlink(path)
        raise


class Log(io.TextIOBase):
    """A text log that never raises: the first OSError (disk full, read-only, a folder where the log should
    be) is kept in ``error`` and later writes are dropped. Every write is redacted and escaped (see write)."""

    def __init__(self, path: Path, within: Path | None = None):
        self.path = path
        self.error: str = ""
        self._file: io.TextIOWrapper | None = None
        try:
            # unbuffered: a full disk shows at the write that hit it, while the work it describes is still going on
            self._file = io.TextIOWrapper(io.FileIO(create_fresh(path, within=within), "w"), encoding="utf-8",
                                          newline="", write_through=True)
        except OSError as exc:
            self._fail(exc)
        except SymlinkedFolder as exc:  # nothing written through it; the caller reports it with the work's outcome
            self.error = f"log {self.path} not written: {exc}"

    def _fail(self, exc: OSError) -> None:
        if not self.error:
            self.error = f"log {self.path} not written: {exc.strerror or exc}"
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):  # the error is recorded already
                file.close()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        """``text`` redacted by value and with its control characters escaped (lines stay lines): what a log
        holds came from input and running programs, and is read later on a terminal."""
        if self._file is not None:
            try:
                self._file.write(escape_lines(redact_text(text)))
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()  # flushes: a full disk may show only now
            except OSError as exc:
                self._file = None
                self._fail(exc)
            self._file = None
        super().close()


@contextmanager
def open_log(path: Path, within: Path | None = None) -> Iterator[Log]:
    """A fresh log at ``path`` (see Log): never raises for the log's own sake; check ``.error`` afterwards."""
    log = Log(path, within)
    try:
        yield log
    finally:
        log.close()
