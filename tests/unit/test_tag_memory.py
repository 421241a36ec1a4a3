"""A tag the registry showed with its fingerprint is not asked again on the next run; a missing tag, another
fingerprint, a pinned image, a failed push and `--refresh` are asked again."""
from __future__ import annotations

import pytest

from tars_tasks.image.registry import Registries, Registry
from tars_tasks.image.tag_memory import TagMemory, forget_confirmed

IMAGE = "reg.example:5000/shop/cart"


@pytest.fixture
def registry(monkeypatch):
    """The registry's answers (tag -> fingerprint label) and the requests made, one entry per question."""
    state = {"tags": {"abc": "fp-abc"}, "asked": []}

    def has_tag(self, repository, tag):
        state["asked"].append(("HEAD", repository, tag))
        return tag in state["tags"]

    def image_label(self, repository, tag, label=None):
        state["asked"].append(("label", repository, tag))
        return state["tags"][tag]

    monkeypatch.setattr(Registry, "has_tag", has_tag)
    monkeypatch.setattr(Registry, "image_label", image_label)
    return state


def registries(tmp_path) -> Registries:  # a new run: the memory is read from the file again
    return Registries({}, memory=TagMemory(TagMemory.file_of(tmp_path / "dist")))


def run(tmp_path, *questions) -> list[bool]:
    regs = registries(tmp_path)
    answers = [regs.has(IMAGE, tag, fp) for tag, fp in questions]
    regs.memory.save()
    return answers


def test_a_confirmed_tag_is_not_asked_again_in_the_next_run(tmp_path, registry):
    assert run(tmp_path, ("abc", "fp-abc")) == [True]
    assert len(registry["asked"]) == 2
    assert run(tmp_path, ("abc", "fp-abc")) == [True]
    assert len(registry["asked"]) == 2  # no request at all


def test_what_is_not_confirmed_is_asked_every_time(tmp_path, registry):
    assert run(tmp_path, ("new", "fp-new"), ("abc", "fp-abc")) == [False, True]
    registry["asked"].clear()
    assert run(tmp_path, ("new", "fp-new"), ("abc", None)) == [False, True]  # missing; pinned (no fingerprint)
    assert [a[0] for a in registry["asked"]] == ["HEAD", "HEAD"]
    registry["tags"]["new"] = "fp-new"  # pushed meanwhile by someone else
    assert run(tmp_path, ("new", "fp-new")) == [True]


def test_a_tag_gone_from_the_registry_or_a_failed_push_is_forgotten(tmp_path, registry):
    run(tmp_path, ("abc", "fp-abc"))
    regs = registries(tmp_path)
    regs.push_failed(IMAGE, "abc")
    regs.memory.save()
    registry["asked"].clear()
    assert run(tmp_path, ("abc", "fp-abc")) == [True]
    assert len(registry["asked"]) == 2
    del registry["tags"]["abc"]
    regs = registries(tmp_path)
    assert regs.has(IMAGE, "abc", "fp-abc")  # remembered: not asked
    forget_confirmed(tmp_path / "dist")  # --refresh
    assert run(tmp_path, ("abc", "fp-abc")) == [False]


def test_a_corrupt_memory_is_ignored(tmp_path, registry):
    path = TagMemory.file_of(tmp_path / "dist")
    path.parent.mkdir(parents=True)
    for text in ("{", '{"format": "tars-tasks/registry-tags@1", "hosts": {"reg.example:5000": {"shop/cart:abc": 7}}}'):
        path.write_text(text)
        registry["asked"].clear()
        assert registries(tmp_path).has(IMAGE, "abc", "fp-abc")
        assert len(registry["asked"]) == 2


def test_a_memory_written_in_another_folder_is_not_believed(tmp_path, registry):
    import shutil

    run(tmp_path / "one", ("abc", "fp-abc"))
    theirs = TagMemory.file_of(tmp_path / "two" / "dist")  # committed into a checkout, or copied
    theirs.parent.mkdir(parents=True)
    shutil.copy(TagMemory.file_of(tmp_path / "one" / "dist"), theirs)
    registry["asked"].clear()
    assert run(tmp_path / "two", ("abc", "fp-abc")) == [True]
    assert len(registry["asked"]) == 2  # asked: the copy says nothing


def test_a_symlinked_dist_or_dist_cache_is_refused_never_read_or_written_through(tmp_path, registry):
    """A cache decides what a run skips (a tag confirmed is not asked again): it is neither read nor written
    through a symlink, and the run says so (exit 2, docs/security.md) instead of silently going without it."""
    from tars_tasks.core.fsio import SymlinkedFolder

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "dist").symlink_to(elsewhere)
    with pytest.raises(SymlinkedFolder, match="^dist is a symlink"):
        TagMemory(TagMemory.file_of(tmp_path / "repo" / "dist"), tmp_path / "repo")
    (tmp_path / "repo" / "dist").unlink()
    (tmp_path / "repo" / "dist").mkdir()
    (tmp_path / "repo" / "dist" / "cache").symlink_to(elsewhere)
    with pytest.raises(SymlinkedFolder, match="^dist/cache is a symlink"):
        TagMemory(TagMemory.file_of(tmp_path / "repo" / "dist"), tmp_path / "repo")
    assert list(elsewhere.iterdir()) == []
