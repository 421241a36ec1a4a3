"""Image tags known to be in their registry, kept between runs (`<dist>/cache/registry-tags.json`).

Our image tags are content fingerprints (image/fingerprint.py) and tags are immutable (a tag holding other
content is refused, image/registry.py): once the registry has shown `image:tag` carrying fingerprint F, it
still does on the next plan. Asking again costs one HEAD request, plus the manifest and config to read the
label, per service and per plan: 10,000 requests for `plan --since` of 10,000 changed services. So a tag
confirmed with its fingerprint is remembered per registry host and not asked again.

Only confirmations are remembered (a missing tag may be pushed at any time), only with the fingerprint that
was checked (a pinned image's tag belongs to someone else and may move: always asked), and a push that fails
forgets the tag, as does a deploy whose pods cannot pull it (a tag deleted by hand: deploy/steps.py). What this
cannot see otherwise (a registry wiped) is fixed by `--refresh` on plan, release, deploy and build, which
forgets everything first and asks again. The file is
JSON of strings, checked when read: an edited or corrupt file is ignored. It names the folder it was written
in (device and inode): a file committed into a checkout (dist/ is git-ignored, but `git add -f` exists)
lands in a folder of another identity and is ignored, so nobody can tell this tool a tag is there. It is
written only through real folders (core/fsio.py), never through a symlinked dist/.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

from tars_tasks.core.fsio import SymlinkedFolder, real_folder, refuse_symlinked, write_text_atomic

CACHE_FORMAT = "tars-tasks/registry-tags@1"


class TagMemory:
    """host -> "repository:tag" -> the fingerprint the registry showed for it."""

    def __init__(self, path: Path | None, within: Path | None = None):
        self.path = path
        self.within = within  # no folder below it on the way to ``path`` may be a symlink
        if path is not None:
            refuse_symlinked(path.parent, within)  # a symlinked dist/cache: exit 2, as for every output
        self._tags: dict[str, dict[str, str]] = self._read(path) if path is not None else {}
        self._changed = False
        self._lock = threading.Lock()

    @classmethod
    def file_of(cls, dist_path: Path) -> Path:
        return dist_path / "cache" / "registry-tags.json"

    @staticmethod
    def _where(folder: Path) -> list[int] | None:
        try:
            info = os.stat(folder)
        except OSError:
            return None
        return [info.st_dev, info.st_ino]

    @staticmethod
    def _read(path: Path) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("where") != TagMemory._where(path.parent) or path.is_symlink():
            return {}  # written elsewhere (committed, copied), or a link to anything
        tags = data.get("hosts") if data.get("format") == CACHE_FORMAT else None
        if not isinstance(tags, dict):
            return {}
        return {host: {ref: fp for ref, fp in refs.items() if isinstance(ref, str) and isinstance(fp, str) and fp}
                for host, refs in tags.items() if isinstance(host, str) and isinstance(refs, dict)}

    def confirmed(self, host: str, repository: str, tag: str, fingerprint: str) -> bool:
        """Whether the registry showed repository:tag with ``fingerprint`` before."""
        with self._lock:
            return bool(fingerprint) and self._tags.get(host, {}).get(f"{repository}:{tag}") == fingerprint

    def remember(self, host: str, repository: str, tag: str, fingerprint: str) -> None:
        with self._lock:
            refs = self._tags.setdefault(host, {})
            if fingerprint and refs.get(f"{repository}:{tag}") != fingerprint:
                refs[f"{repository}:{tag}"] = fingerprint
                self._changed = True

    def forget(self, host: str, repository: str, tag: str) -> None:
        with self._lock:
            if self._tags.get(host, {}).pop(f"{repository}:{tag}", None) is not None:
                self._changed = True

    def clear(self) -> None:
        """Forget every tag (`--refresh`), on disk too."""
        with self._lock:
            self._tags = {}
            self._changed = True
        self.save()

    def save(self) -> None:
        """Write the tags when they changed; a read-only checkout (or a symlinked dist/) only loses the
        speed-up."""
        with self._lock:
            if self.path is None or not self._changed:
                return
            tags, self._changed = self._tags, False
        with contextlib.suppress(OSError, SymlinkedFolder):
            real_folder(self.path.parent, self.within)
            text = json.dumps({"format": CACHE_FORMAT, "where": self._where(self.path.parent), "hosts": tags},
                              separators=(",", ":"), sort_keys=True)
            write_text_atomic(self.path, text, within=self.within)


def forget_confirmed(dist_path: Path, within: Path | None = None) -> None:
    """`--refresh`: every tag the registry confirmed before is asked again."""
    TagMemory(TagMemory.file_of(dist_path), within).clear()
