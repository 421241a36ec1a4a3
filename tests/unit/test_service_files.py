"""The files of a service: one set makes both its image tag and its build context.

A git-ignored file never goes into an image unless `build.files` names it (a build output); a file that
goes in always counts in the tag, unless git ignores it (then its sources and build.command are hashed).
"""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from support import TEST_BASE_IMAGE, Monorepo, free_port, init_git
from tars_tasks.core.files import FileLister
from tars_tasks.core.settings import SERVER_TYPES, Settings
from tars_tasks.image.artifacts import Artifact, resolve
from tars_tasks.image.images import BuildError, ImageBuilder, build_context
from tars_tasks.project import Project

FOLDER = "services/Svc/Api"
SID = "Svc.Api"


def settings_of(repo: Monorepo) -> Settings:
    # an unreachable registry: local builds (push=False) skip the registry check
    return repo.settings(registry=f"127.0.0.1:{free_port()}", base_images={t: TEST_BASE_IMAGE for t in SERVER_TYPES})


def service(repo: Monorepo, build: str, files: dict[str, str]) -> None:
    repo.service("Svc", "Api", "build:\n  type: go\n" + build)
    for name, text in files.items():
        repo.write(f"{FOLDER}/{name}", text)


def artifact(repo: Monorepo, lister: FileLister | None = None) -> Artifact:
    settings = settings_of(repo)
    return resolve(settings, Project.load(settings).services, lister=lister)[SID]


def context(repo: Monorepo, lister: FileLister | None = None) -> dict[str, bytes]:
    """The build context's files, name -> content."""
    lister = lister or FileLister(repo.root)
    data = build_context(artifact(repo, lister), repo.root, lister)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def tag(repo: Monorepo) -> str:
    return artifact(repo).tag


def build_and_list(repo: Monorepo, docker_client, *ls_args: str) -> tuple[Artifact, list[str]]:
    """Build the image locally, then `ls` in it."""
    settings = settings_of(repo)
    art = resolve(settings, Project.load(settings).services)[SID]
    result = ImageBuilder(settings).ensure(art, push=False)
    assert result.status == "built", result.reason
    try:
        out = docker_client.containers.run(art.ref, ["ls", *ls_args], remove=True).decode()
    finally:
        docker_client.images.remove(art.ref, force=True)
    return art, out.split()


def test_own_dockerfile_image_holds_the_files_its_tag_is_made_of(repo, docker_client, test_base_image):
    service(repo, "  dockerfile: Dockerfile\n", {
        "Dockerfile": f"FROM {TEST_BASE_IMAGE}\nCOPY . /opt/own/\n",
        "run.sh": "#!/bin/sh\necho v1\n",
        ".gitignore": "secret.env\n",
        ".dockerignore": "*.md\n",
        "NOTES.md": "notes\n",
    })
    init_git(repo.root)
    repo.write(f"{FOLDER}/secret.env", "TOKEN=one\n")
    _, listed = build_and_list(repo, docker_client, "-A", "/opt/own")
    # git-ignored, .dockerignored and values.yaml (deploy configuration) stay out
    assert listed == [".gitignore", "Dockerfile", "run.sh"]

    before = tag(repo)
    repo.write(f"{FOLDER}/secret.env", "TOKEN=two\n")
    assert tag(repo) == before
    (repo.root / FOLDER / "run.sh").write_text("#!/bin/sh\necho v2\n")
    assert tag(repo) != before
    assert context(repo)["run.sh"] == b"#!/bin/sh\necho v2\n"


def test_the_whole_folder_follows_git_and_dockerignore(repo):
    service(repo, "", {  # no build.files: the whole folder
        "main.go": "package main\n",
        ".gitignore": "*.log\n",
        ".dockerignore": "*.md\n",
        "README.md": "readme\n",
        "conf/app.ini": "[app]\n",
    })
    init_git(repo.root)
    repo.write(f"{FOLDER}/build.log", "noise\n")
    repo.write(f"{FOLDER}/conf/local.ini", "untracked but not ignored\n")
    assert sorted(context(repo)) == ["Dockerfile", "files/.gitignore", "files/.keep", "files/conf/app.ini",
                                     "files/conf/local.ini", "files/main.go"]
    before = tag(repo)
    repo.write(f"{FOLDER}/build.log", "more noise\n")
    repo.write(f"{FOLDER}/README.md", "edited\n")
    assert tag(repo) == before
    repo.write(f"{FOLDER}/conf/local.ini", "changed\n")
    assert tag(repo) != before


def test_build_outputs_named_in_build_files_go_in(repo, docker_client, test_base_image):
    command = "mkdir -p out && echo bin > Server && echo generated > out/gen.txt && echo obj > out/gen.o"
    service(repo, f'  command: ["sh", "-c", "{command}"]\n  files: ["Server", "out"]\n', {
        ".gitignore": "Server\n*.o\n",
        "main.go": "package main\n",
    })
    init_git(repo.root)
    # Server is git-ignored but named; out/ is a named folder: what the command wrote there goes in unless
    # git ignores it (the listing is made again after the command ran)
    _, listed = build_and_list(repo, docker_client, "/usr/local/server/bin")
    assert listed == ["Server", "gen.txt"]


def test_a_git_ignored_output_folder_named_in_build_files_goes_in_whole(repo):
    service(repo, '  files: ["dist"]\n', {".gitignore": "dist/\n", ".dockerignore": "**/*.map\n", "app.ts": "x\n"})
    init_git(repo.root)
    lister = FileLister(repo.root)
    before = artifact(repo, lister).tag
    repo.write(f"{FOLDER}/dist/app.js", "compiled\n")
    repo.write(f"{FOLDER}/dist/app.js.map", "{}\n")
    repo.write(f"{FOLDER}/dist/lib/util.js", "util\n")
    assert sorted(context(repo, lister)) == ["Dockerfile", "files/.keep", "files/app.js", "files/lib/util.js"]
    assert tag(repo) == before  # build outputs: the tag is made from app.ts and the build spec


def test_a_named_file_counts_in_the_tag_even_when_dockerignored(repo):
    service(repo, '  files: ["app.ini", "Server"]\n', {".dockerignore": "*.ini\n", "app.ini": "a=1\n",
                                                        "Server": "#!/bin/sh\n"})
    init_git(repo.root)
    assert context(repo)["files/app.ini"] == b"a=1\n"
    before = tag(repo)
    repo.write(f"{FOLDER}/app.ini", "a=2\n")
    assert tag(repo) != before


def test_a_missing_or_outside_build_file_is_a_clear_error(repo):
    service(repo, '  files: ["Server"]\n', {})
    init_git(repo.root)
    with pytest.raises(BuildError, match=r"^build.files: 'Server' does not exist in Api/ \(did the build command"):
        context(repo)
    service(repo, '  files: ["../Other/Server"]\n', {})
    assert repo.problems() == ["services/Svc/Api/values.yaml:6:11: build.files[0]: '../Other/Server' is outside "
                               "Api/ (paths are relative to the service folder; shared files are build.inputs)"]
    with pytest.raises(BuildError, match="is outside Api/"):
        context(repo)


def test_the_context_is_the_same_bytes_for_the_same_files(repo):
    service(repo, "", {"main.go": "package main\n", "run.sh": "#!/bin/sh\n"})
    os.chmod(repo.root / FOLDER / "run.sh", 0o775)
    init_git(repo.root)
    lister = FileLister(repo.root)
    first = build_context(artifact(repo, lister), repo.root, lister)
    for name in ("main.go", "run.sh"):
        os.utime(repo.root / FOLDER / name, (1_000_000, 1_000_000))
    os.chmod(repo.root / FOLDER / "main.go", 0o664)
    assert build_context(artifact(repo, lister), repo.root, lister) == first
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        modes = {m.name: (m.mode, m.mtime, m.uid, m.uname) for m in tar.getmembers()}
    assert modes["files/run.sh"] == (0o755, 0, 0, "") and modes["files/main.go"] == (0o644, 0, 0, "")


def _git_pathspecs(monkeypatch) -> list[list[str]]:
    """The pathspecs (what follows `--`) of every git command run from here on."""
    import subprocess

    seen: list[list[str]] = []
    real = subprocess.run

    def run(argv, *args, **kwargs):
        if argv and argv[0] == "git" and "--" in argv:
            seen.append(list(argv[argv.index("--") + 1:]))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    return seen


def test_one_service_tag_asks_git_about_its_folder_only_and_equals_the_whole_listing(repo, monkeypatch):
    service(repo, "", {"main.go": "package main\n", "notes.txt": "n\n"})
    repo.service("Other", "One")
    repo.write("services/Other/One/big.txt", "x\n")
    init_git(repo.root)
    repo.write(f"{FOLDER}/new.go", "package main // untracked\n")  # not committed: listed and hashed all the same
    settings = settings_of(repo)
    svc = Project.load(settings).select([SID])
    whole = FileLister(repo.root)
    whole.all_files()
    expected = resolve(settings, svc, lister=whole)[SID].fingerprint
    pathspecs = _git_pathspecs(monkeypatch)
    assert resolve(settings, svc)[SID].fingerprint == expected
    assert pathspecs and all(spec == [FOLDER] for spec in pathspecs)  # never "." (the whole repository)


def test_many_folders_are_listed_by_one_whole_listing(repo, monkeypatch):
    assert not FileLister(repo.root).few  # the whole repository by default: a plan of everything
    for i in range(FileLister.SCOPED_LISTINGS + 5):
        repo.write(f"services/A/S{i}/f.txt", f"{i}\n")
    init_git(repo.root)
    lister = FileLister(repo.root, few=True)
    pathspecs = _git_pathspecs(monkeypatch)
    listed = [lister.under(f"services/A/S{i}") for i in range(FileLister.SCOPED_LISTINGS + 5)]
    assert listed == [[f"services/A/S{i}/f.txt"] for i in range(FileLister.SCOPED_LISTINGS + 5)]
    assert pathspecs.count(["."]) == 1 and len(pathspecs) == FileLister.SCOPED_LISTINGS + 1
    assert lister.under("../outside") == [] and lister.under("services/A/../A/S1") == []


def test_resolves_inside_follows_every_symlink_below_the_boundary(tmp_path):
    from tars_tasks.core.files import resolves_inside

    box = tmp_path / "box"
    (box / "sub").mkdir(parents=True)
    (box / "sub" / "f").write_text("x")
    (tmp_path / "outside").mkdir()
    (box / "out").symlink_to(tmp_path / "outside")
    (box / "in").symlink_to(box / "sub")
    (box / "sub" / "up").symlink_to(tmp_path)
    (tmp_path / "boxlink").symlink_to(box)
    cases = {"sub/f": True, "sub": True, ".": True, "in/f": True, "out": False, "out/x": False, "sub/up": False,
             "sub/up/box/sub/f": True, "sub/../sub/f": True, "../outside": False, "missing/file": True}
    for rel, inside in cases.items():
        assert resolves_inside(box / rel, box) is inside, rel
        assert resolves_inside(tmp_path / "boxlink" / rel, tmp_path / "boxlink") is inside, rel
