"""`invoke build` over shards and engines, as CI runs it: N shard jobs, then a job that finds every image."""
from __future__ import annotations

import json
import os

import pytest
from conftest import Cli

from support import TEST_BASE_IMAGE, copy_samples, init_git, sample_environments
from tars_tasks.core.settings import SERVER_TYPES

MAIN = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
SHARDS_OF_3 = {"Base.AuthServer": 3, "Base.LogServer": 3, "Base.HelloServer": 1, "Shop.CartServer": 1,
               "Shop.OrderServer": 2, "Shop.PayServer": 2, "Shop.WebGateway": 1}


@pytest.fixture
def mono(tmp_path, registry, namespace, test_base_image) -> Cli:
    root = copy_samples(tmp_path / "mono")
    images = "\n".join(f"    {t}: {TEST_BASE_IMAGE}" for t in SERVER_TYPES)
    (root / "invoke.yaml").write_text(f"tars:\n  registry: {registry.host}/{namespace}\n  base_images:\n{images}\n"
                                      + sample_environments())
    (root / ".gitignore").write_text("dist/\n")
    init_git(root)
    return Cli(root)


def images(result) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {i["service"]: i for i in json.loads(result.stdout)["images"]}


@pytest.mark.docker
@pytest.mark.helm
def test_three_shard_jobs_build_every_image_once_then_a_full_run_finds_them_all(mono):
    built: dict[str, int] = {}
    for k in (1, 2, 3):
        shard = images(mono("build", "--shard", f"{k}/3", "--json"))
        assert {sid: i["status"] for sid, i in shard.items()} == {
            sid: "pushed" for sid, s in SHARDS_OF_3.items() if s == k}
        for sid in shard:
            assert sid not in built
            built[sid] = k
    assert built == SHARDS_OF_3
    again = images(mono("build", "--json"))  # the release job's view: everything is in the registry
    assert {i["status"] for i in again.values()} == {"exists"} and set(again) == set(SHARDS_OF_3)
    release = mono("release", "--all", "--dry-run", "--json")  # the release job itself builds nothing
    assert release.returncode == 0, release.stderr
    services = json.loads(release.stdout)["services"]
    # the plan found every image in the registry: no service has an image step, nothing was built
    assert {s["id"]: ("image" in s["steps"], s["build"]) for s in services} == {
        sid: (False, None) for sid in SHARDS_OF_3}


def test_a_bad_shard_is_a_usage_error(mono):
    result = mono("build", "--shard", "4/3")
    assert result.returncode == 2
    assert "--shard: '4/3': K must be between 1 and N, and N at least 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_shard_that_holds_none_of_the_named_services_says_so(mono):
    result = mono("build", "--shard", "1/3", "--service", "Base.AuthServer", "--json")  # Base.AuthServer: shard 3
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"] == []
    assert "note: none of the 1 selected service(s) is in shard 1/3: nothing to build" in result.stderr


def test_a_bad_builder_address_is_a_usage_error_naming_the_entry(mono):
    text = (mono.root / "invoke.yaml").read_text()
    (mono.root / "invoke.yaml").write_text(text.replace(
        "tars:\n", "tars:\n  builders:\n    - unix:///var/run/docker.sock\n    - http://builder:2375\n", 1))
    result = mono("build")
    assert result.returncode == 2
    assert "tars.builders[1]: 'http://builder:2375' is not an engine address" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.docker
def test_builders_from_the_environment_skip_a_down_engine_with_a_warning(mono, tmp_path):
    down = f"unix://{tmp_path}/down.sock"
    result = mono("build", "--service", "Base.AuthServer", "--no-push", "--json",
                  env={"INVOKE_TARS_BUILDERS": f"{down},{MAIN}"})
    [image] = images(result).values()
    assert (image["status"], image["engine"]) == ("built", f"{MAIN} (BuildKit)")
    assert f"Base.AuthServer: warning: build engine {down} is down, builds go to the others" in result.stderr
    assert f"Base.AuthServer: engine {MAIN} (BuildKit)" in result.stderr
