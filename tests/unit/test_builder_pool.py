"""Builds over several engines (`tars.builders`): a second real dockerd started here, one engine that is down,
BuildKit's registry cache on a fresh engine, and the classic builder with one LABEL instruction."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from second_engine import SecondEngine
from support import TEST_BASE_IMAGE, copy_samples, free_port, init_git, sample_envs
from tars_tasks.core.settings import SERVER_TYPES, Settings
from tars_tasks.image.images import LABEL_FINGERPRINT, LABEL_SERVICE
from tars_tasks.image.run import run_build
from tars_tasks.project import Project

MAIN = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@pytest.fixture(scope="module")
def second(docker_client, test_base_image):
    engine = SecondEngine()
    try:
        engine.start()
        engine.load(docker_client, test_base_image)
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def mono(tmp_path):
    root = copy_samples(tmp_path / "mono")
    init_git(root)
    return root


def settings_for(root: Path, registry: str, **extra) -> Settings:
    return Settings.from_mapping({"root": str(root), "registry": registry, "environments": sample_envs(),
                                  "base_images": {t: TEST_BASE_IMAGE for t in SERVER_TYPES}, **extra})


def build(settings: Settings, ids=None, push=True, jobs=4):
    project = Project.load(settings)
    project.require_valid()
    said: list[tuple[str, str]] = []
    results = run_build(settings, project.select(ids or []), push=push, jobs=jobs,
                        progress=lambda sid, msg: said.append((sid, msg)))
    return {r.service: r for r in results}, said


@pytest.mark.docker
def test_builds_spread_over_live_engines_and_skip_the_down_one(mono, registry, namespace, second, docker_client,
                                                               tmp_path):
    down = f"unix://{tmp_path}/nothing-listens.sock"
    settings = settings_for(mono, f"{registry.host}/{namespace}", builders=[MAIN, second.address, down])
    results, said = build(settings)
    assert {r.status for r in results.values()} == {"pushed"}, {k: r.reason for k, r in results.items()}
    # both live engines took builds (two at a time each: jobs 4 over 2 engines), none went to the down one
    used = {r.engine for r in results.values()}
    assert used == {f"{MAIN} (BuildKit)", f"{second.address} (BuildKit)"}
    warning = f"warning: build engine {down} is down, builds go to the others"
    warnings = [m for _, m in said if m.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith(warning)  # said once per run, not once per build
    other = second.client()
    try:
        for r in results.values():
            log = Path(r.log).read_text()
            assert f"engine {r.engine}\n" in log and warning in log, r.service
            engine = other if r.engine.startswith(second.address) else docker_client
            assert engine.images.get(r.image).labels[LABEL_SERVICE] == r.service  # built where the log says
    finally:
        other.close()


def test_every_engine_down_fails_every_build_with_one_clear_message(mono, tmp_path):
    a, b = f"unix://{tmp_path}/a.sock", f"unix://{tmp_path}/b.sock"
    settings = settings_for(mono, f"127.0.0.1:{free_port()}", builders=f"{a}, {b}")
    results, _ = build(settings, ["Base.AuthServer", "Base.LogServer"], push=False)
    for r in results.values():
        assert r.status == "failed"
        assert r.reason.startswith(f"no build engine answers: {a} (") and f"; {b} (" in r.reason, r.reason


@pytest.mark.docker
def test_a_fresh_engine_reuses_layers_from_the_registry_cache(mono, registry, namespace, second):
    folder = mono / "services/Base/AuthServer"
    (folder / "Dockerfile").write_text(f"FROM {TEST_BASE_IMAGE}\nRUN echo expensive-{namespace} > /step\n"
                                       "COPY AuthServer /opt/AuthServer\n")
    values = folder / "values.yaml"
    values.write_text(values.read_text().replace("  type: go\n", "  type: go\n  dockerfile: Dockerfile\n"))
    home = f"{registry.host}/{namespace}"
    first, _ = build(settings_for(mono, home, builders=[MAIN]), ["Base.AuthServer"])
    assert first["Base.AuthServer"].status == "pushed", first["Base.AuthServer"].reason
    assert re.search(r"^#\d+ \[2/3\] RUN echo expensive", Path(first["Base.AuthServer"].log).read_text(), re.M)
    (folder / "AuthServer").write_text("#!/bin/sh\necho changed\n")
    again, _ = build(settings_for(mono, home, builders=[second.address]), ["Base.AuthServer"])
    r = again["Base.AuthServer"]
    assert r.status == "pushed" and r.engine == f"{second.address} (BuildKit)", r.reason
    log = Path(r.log).read_text()
    step = re.search(r"^#(\d+) \[2/3\] RUN echo expensive", log, re.M)
    assert step, log
    assert f"#{step.group(1)} CACHED\n" in log  # the RUN layer came from the registry, not re-run


@pytest.mark.docker
def test_classic_builder_when_asked_labels_in_one_instruction(mono, namespace, docker_client):
    settings = settings_for(mono, f"127.0.0.1:{free_port()}/{namespace}", builder="classic")
    results, said = build(settings, ["Base.HelloServer"], push=False)
    r = results["Base.HelloServer"]
    assert r.status == "built" and r.engine == f"{MAIN} (classic)", r.reason
    assert ("Base.HelloServer", f"engine {MAIN} (classic)") in said
    assert "Step 1/" in Path(r.log).read_text()
    image = docker_client.images.get(r.image)
    assert image.labels[LABEL_SERVICE] == "Base.HelloServer" and LABEL_FINGERPRINT in image.labels
    label_steps = [h["CreatedBy"] for h in image.history() if "LABEL" in h["CreatedBy"]]
    assert len(label_steps) == 1 and LABEL_FINGERPRINT in label_steps[0] and LABEL_SERVICE in label_steps[0]
