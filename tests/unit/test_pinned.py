"""Pinned images (repo.image with a tag) are never built and never pushed."""
from __future__ import annotations

from tars_tasks.image.run import run_build


def test_a_pinned_image_may_name_a_repository_another_service_builds_into(repo):
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    repo.service("Base", "B", "servants: [{name: BObj, port: 10001}]\nrepo:\n  image: 127.0.0.1:5000/base/a:v1\n")
    assert repo.problems() == []


def test_two_built_services_in_one_repository_collide(repo):
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    repo.service("Base", "B", "servants: [{name: BObj, port: 10001}]\nrepo:\n  image: 127.0.0.1:5000/base/a\n")
    assert repo.problems() == [
        "services/Base/A/values.yaml:2:9: server: collides with Base.B (services/Base/B/values.yaml): same image repository "
        "'127.0.0.1:5000/base/a'; one would overwrite the other",
        "services/Base/B/values.yaml:6:10: repo.image: collides with Base.A (services/Base/A/values.yaml): same image repository "
        "'127.0.0.1:5000/base/a'; one would overwrite the other"]


def test_build_reports_a_pinned_service_without_building_it(repo):
    repo.service("Base", "B", "servants: [{name: BObj, port: 10001}]\nrepo:\n  image: busybox:1.36\n")
    project = repo.load()
    [result] = run_build(project.settings, project.services, push=False)
    assert (result.service, result.status, result.image) == ("Base.B", "pinned", "busybox:1.36")
    assert result.ok and result.summary() == "Base.B: pinned busybox:1.36 in 0.0s"
