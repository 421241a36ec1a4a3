"""Image tags from git's index: a tracked, unmodified file counts by the blob id git already has; every other
file (modified, staged, untracked, no git at all) is hashed the same way. Any content or mode change
changes the tag; the same content gives the same tag whichever way git knows it."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import Monorepo, init_git
from tars_tasks.core.files import FileLister
from tars_tasks.core.gitindex import CHUNK, GitIndex
from tars_tasks.image.artifacts import resolve
from tars_tasks.project import Project

SID = "Svc.Api"
FOLDER = "services/Svc/Api"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


def tag(root: Path) -> str:
    """The tag a fresh run computes (its own listing and index, as each `invoke` does)."""
    settings = Monorepo(root).settings(registry="127.0.0.1:5000")
    return resolve(settings, Project.load(settings).services, lister=FileLister(root))[SID].tag


@pytest.fixture
def committed(repo: Monorepo) -> Monorepo:
    repo.service("Svc", "Api", "build:\n  type: go\n  files: [main.sh]\n")
    repo.write(f"{FOLDER}/main.sh", "echo one\n")
    repo.write(f"{FOLDER}/lib/util.sh", "echo util\n")
    init_git(repo.root)
    return repo


def test_unchanged_content_gives_the_same_tag_on_every_run(committed: Monorepo):
    assert tag(committed.root) == tag(committed.root)
    os.utime(committed.root / FOLDER / "main.sh")  # touched: stat-dirty for git, same content
    assert tag(committed.root) == tag(committed.root)
    first = tag(committed.root)
    git(committed.root, "update-index", "--refresh")
    assert tag(committed.root) == first


def test_a_change_committed_changes_the_tag(committed: Monorepo):
    before = tag(committed.root)
    committed.write(f"{FOLDER}/main.sh", "echo two\n")
    git(committed.root, "commit", "-qam", "two")
    assert tag(committed.root) != before


def test_a_modified_unstaged_file_of_the_same_size_changes_the_tag_right_after_the_commit(committed: Monorepo):
    before = tag(committed.root)
    committed.write(f"{FOLDER}/main.sh", "echo uno\n")  # same size, same second as the index: racily clean
    assert tag(committed.root) != before


def test_a_staged_change_changes_the_tag_and_equals_the_same_content_committed(committed: Monorepo):
    before = tag(committed.root)
    committed.write(f"{FOLDER}/main.sh", "echo two\n")
    modified = tag(committed.root)
    git(committed.root, "add", "-A")
    staged = tag(committed.root)
    git(committed.root, "commit", "-qm", "two")
    assert before != modified == staged == tag(committed.root)


def test_an_untracked_file_counts_and_its_content_too(committed: Monorepo):
    before = tag(committed.root)
    committed.write(f"{FOLDER}/new.txt", "a\n")
    with_new = tag(committed.root)
    committed.write(f"{FOLDER}/new.txt", "b\n")
    assert len({before, with_new, tag(committed.root)}) == 3


def test_a_mode_change_changes_the_tag_staged_or_not(committed: Monorepo):
    before = tag(committed.root)
    (committed.root / FOLDER / "main.sh").chmod(0o755)
    unstaged = tag(committed.root)
    git(committed.root, "commit", "-qam", "+x")
    assert before != unstaged == tag(committed.root)


def test_a_file_git_is_told_to_assume_unchanged_is_hashed_all_the_same(committed: Monorepo):
    before = tag(committed.root)
    git(committed.root, "update-index", "--assume-unchanged", f"{FOLDER}/main.sh")
    committed.write(f"{FOLDER}/main.sh", "echo two\n")
    assert git(committed.root, "diff-files", "--name-only") == ""  # git itself does not see the change
    assert tag(committed.root) != before


def test_a_symlink_counts_by_the_content_it_points_to(committed: Monorepo):
    committed.write(f"{FOLDER}/.dockerignore", "lib\n")  # the target itself is not among the files hashed
    os.symlink("lib/util.sh", committed.root / FOLDER / "util-link")
    git(committed.root, "add", "-A")
    git(committed.root, "commit", "-qm", "link")
    before = tag(committed.root)
    committed.write(f"{FOLDER}/lib/util.sh", "echo UTIL\n")
    git(committed.root, "commit", "-qam", "target changed")  # the link's own blob (its text) is the same
    assert tag(committed.root) != before


def test_outside_git_every_change_counts_and_equal_content_gives_the_git_tag(committed: Monorepo, tmp_path: Path):
    plain = tmp_path / "plain"
    shutil.copytree(committed.root, plain, ignore=shutil.ignore_patterns(".git"))
    assert tag(plain) == tag(committed.root)  # same files, same content: same tag, git or not
    before = tag(plain)
    (plain / FOLDER / "main.sh").write_text("echo two\n")
    modified = tag(plain)
    (plain / FOLDER / "main.sh").chmod(0o755)
    assert len({before, modified, tag(plain)}) == 3


def test_only_files_git_does_not_know_unmodified_are_read(committed: Monorepo, monkeypatch: pytest.MonkeyPatch):
    read: list[str] = []
    real = GitIndex.hash_file
    monkeypatch.setattr(GitIndex, "hash_file", lambda self, path: read.append(path.name) or real(self, path))
    tag(committed.root)
    assert read == []  # every file of the service is committed and unmodified: no byte of it read
    committed.write(f"{FOLDER}/main.sh", "echo two\n")
    committed.write(f"{FOLDER}/extra.txt", "x\n")
    tag(committed.root)
    assert sorted(read) == ["extra.txt", "main.sh"]


def test_a_hashed_file_gets_the_id_git_gives_it_read_in_chunks(tmp_path: Path):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(CHUNK * 2 + 12345))
    expected = subprocess.run(["git", "hash-object", str(big)], capture_output=True, text=True, check=True).stdout
    assert GitIndex(tmp_path).hash_file(big) == expected.strip()


def test_a_project_in_a_subfolder_of_the_repository_uses_the_index_too(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch):
    outer = tmp_path / "outer"
    project = Monorepo(outer / "deploy")
    project.service("Svc", "Api", "build:\n  type: go\n  files: [main.sh]\n")
    project.write(f"{FOLDER}/main.sh", "echo one\n")
    (outer / "elsewhere.txt").write_text("not the project's\n")
    init_git(outer)
    read: list[str] = []
    real = GitIndex.hash_file
    monkeypatch.setattr(GitIndex, "hash_file", lambda self, path: read.append(path.name) or real(self, path))
    before = tag(project.root)
    assert read == []
    project.write(f"{FOLDER}/main.sh", "echo two\n")
    assert tag(project.root) != before and read == ["main.sh"]


def test_files_under_a_path_are_that_file_or_its_folder_never_a_name_that_only_starts_alike(tmp_path: Path):
    for rel in ("a/b", "a/b-x", "a/b.txt", "a/b0", "a/bc/d", "a/a", "z"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    for rel in ("a/b-x", "a/b.txt", "a/b0", "a/bc/d", "a/a", "z"):
        (tmp_path / rel).write_text(rel)
    (tmp_path / "a/b").mkdir(exist_ok=True)
    (tmp_path / "a/b/c").write_text("c")
    (tmp_path / "a/b/e/f").parent.mkdir()
    (tmp_path / "a/b/e/f").write_text("f")
    lister = FileLister(tmp_path)  # not a git repository: a walk
    assert lister.under("a/b") == ["a/b/c", "a/b/e/f"]
    assert lister.under("a/b.txt") == ["a/b.txt"]
    assert lister.under("a/") == ["a/a", "a/b-x", "a/b.txt", "a/b/c", "a/b/e/f", "a/b0", "a/bc/d"]
    assert lister.under("a/nothing") == [] and lister.under("zz") == []
