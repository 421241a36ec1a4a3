"""Reproducible tar archives in memory: the same entries give the same bytes, on any machine, at any time.

Every entry is a regular file with a fixed mtime, owner 0:0 without names, mode 0644 (0755 for a file added
from disk with an execute bit), written in sorted name order, in PAX format. Adding a name twice keeps the
last. Used for image build contexts and chart packages.
"""
from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

FIXED_MTIME = 315532800  # 1980-01-01, as reproducible-build tools use


class Tarball:
    def __init__(self, mtime: int = FIXED_MTIME):
        self.mtime = mtime
        self._entries: dict[str, tuple[bytes, int]] = {}

    def add_bytes(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entries[name] = (data, mode)

    def add_file(self, name: str, path: Path) -> None:
        """The content of ``path`` (a symlink is followed); executable when any execute bit is set."""
        mode = 0o755 if os.stat(path).st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) else 0o644
        self._entries[name] = (Path(path).read_bytes(), mode)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def tar_bytes(self) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(self._entries):
                data, mode = self._entries[name]
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), self.mtime, mode
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
        return raw.getvalue()

    def tgz_bytes(self, compresslevel: int = 6) -> bytes:
        """The tar gzipped with no name and mtime 0 in the gzip header."""
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=compresslevel) as gz:
            gz.write(self.tar_bytes())
        return out.getvalue()
