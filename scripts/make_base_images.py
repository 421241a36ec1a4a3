#!/usr/bin/env python3
"""Make local stand-ins for the platform's base images (tarscloud/tars.<type>base) on machines that cannot pull.

Each stand-in is a busybox root filesystem imported with `docker import` and labelled
`io.tars-tasks.stand-in=true`. A base image that already exists locally is never replaced.

    python3 scripts/make_base_images.py [IMAGE ...]   (default: the base_images of the tars settings)
"""
from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import docker
import docker.errors

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "ls", "cat", "echo", "env", "mkdir", "cp", "rm", "chmod", "test", "true", "false", "sleep")


def rootfs_tar() -> bytes:
    """A tiny root filesystem: busybox, a shell, and the folders the TARS launcher uses."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        for d in ("bin", "etc", "tmp", "usr", "usr/local", "usr/local/server", "usr/local/server/bin",
                  "usr/local/app", "usr/local/app/tars"):
            add_dir(d)
        data = BUSYBOX.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


def ensure(client: docker.DockerClient, images: list[str]) -> list[str]:
    made = []
    data = None
    for ref in images:
        try:
            client.images.get(ref)
            continue
        except docker.errors.ImageNotFound:
            pass
        data = data or rootfs_tar()
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        client.api.import_image_from_data(data, repository=repo, tag=tag or "latest",
                                          changes=['LABEL io.tars-tasks.stand-in="true"', 'CMD ["/bin/sh"]'])
        made.append(ref)
    return made


def configured_base_images() -> list[str]:
    from tars_tasks.core.settings import DEFAULTS

    return sorted(set(DEFAULTS["base_images"].values()))


def main(argv: list[str]) -> int:
    if not BUSYBOX.exists():
        print("base images: /bin/busybox is missing (apt-get install busybox-static)", file=sys.stderr)
        return 1
    client = docker.from_env()
    made = ensure(client, argv or configured_base_images())
    for ref in made:
        print(f"base images: made stand-in {ref}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
