"""Writing the tool's outputs (logs, charts, plans) without following symlinks someone else planted.

dist/ sits in a checkout anyone with a merge request can shape: a committed `dist/logs/X.deploy.log ->
~/.bashrc` would make a plain ``open("w")`` overwrite a file outside the repo. Whole files are written to a
temporary file in the same folder and renamed over the destination (a rename replaces a symlink, never
its target); streamed logs are created afresh with O_CREAT|O_EXCL|O_NOFOLLOW after removing whatever was
there. A log that cannot be written is not a failure of the work it describes: ``open_log`` never raises,
it records the first error for the caller to report as a warning.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """``data`` at ``path``, all or nothing: a temporary file in the same folder, renamed over the destination.
    A symlink at ``path`` is replaced by the new file, never followed."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def create_fresh(path: Path, mode: int = 0o644) -> int:
    """A new, empty file at ``path`` opened for writing: whatever was there (a file, a symlink) is removed
    first and the file is created with O_EXCL|O_NOFOLLOW, so nothing outside ``path`` is ever written."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
    be) is kept in ``error`` and later writes are dropped."""

    def __init__(self, path: Path):
        self.path = path
        self.error: str = ""
        self._file: io.TextIOWrapper | None = None
        try:
            # unbuffered: a full disk shows at the write that hit it, while the work it describes is still going on
            self._file = io.TextIOWrapper(io.FileIO(create_fresh(path), "w"), encoding="utf-8", newline="",
                                          write_through=True)
        except OSError as exc:
            self._fail(exc)

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
        if self._file is not None:
            try:
                self._file.write(text)
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
def open_log(path: Path) -> Iterator[Log]:
    """A fresh log at ``path`` (see Log): never raises for the log's own sake; check ``.error`` afterwards."""
    log = Log(path)
    try:
        yield log
    finally:
        log.close()
