"""Upstream-style services against the fake cluster with the real helm: a pinned image is deployed without a
build, and each TImage release carries its record (who, when, why), kept across upgrades of the same release."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from clustermono import ClusterMono, sample_in_cluster

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]

PINNED = "Up.PinnedServer"


class Mono(ClusterMono):
    """Also: the TImage release records of the pinned service."""

    def releases(self) -> list[dict]:
        return self.cluster.get("TImage", "tars", "up-pinnedserver")["releases"]


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(Mono, tmp_path, cluster_registry, ready_after=0.2) as m:
        yield m


def pin_copy(mono: Mono, built: str) -> str:
    """A copy of an image this tool built, in a repository of its own (up/pinned:v1): what a pinned
    service deploys (no two services may name one repository)."""
    import docker

    client = docker.from_env()
    host = mono.env["INVOKE_TARS_REGISTRY"]
    client.images.get(built).tag(f"{host}/up/pinned", "v1")
    for line in client.images.push(f"{host}/up/pinned", "v1", stream=True, decode=True):
        assert "error" not in line, line
    client.images.remove(f"{host}/up/pinned:v1")
    return f"{host}/up/pinned:v1"


def pinned_service(mono: Mono, image: str, body: str = "") -> Path:
    values = mono.root / "services" / "Up" / "PinnedServer" / "values.yaml"
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(f"app: Up\nserver: PinnedServer\ntemplate: tars.cpp\nprofile:\nenvVars:\nconfig:\n"
                      f"servants:\n  - {{name: PinObj, port: 10000}}\nreplicas: 1\n"
                      f"repo:\n  id: rel-1\n  image: {image}\n  secret:\n{body}")
    return values


def test_a_pinned_image_is_deployed_without_a_build_and_keeps_its_release_record(mono):
    first, services = mono.release("--service", "Base.LogServer")
    assert first.returncode == 0, first.stderr
    image = pin_copy(mono, services["Base.LogServer"]["image"])
    values = pinned_service(mono, image)
    mono.commit("Pin the log image")

    result, services = mono.release("--service", PINNED, "--user", "alice", "--reason", "first rollout")
    assert result.returncode == 0, result.stderr
    pinned = services[PINNED]
    assert pinned["status"] == "deployed" and pinned["image"] == image
    assert "build" not in pinned["steps"] and set(pinned["steps"]) == {"chart", "deploy"}
    assert f"pinned image {image}: not built" in pinned["reason"]
    tserver = mono.cluster.get("TServer", "tars", "up-pinnedserver")
    # ours as declared; the framework's webhook adds the release time and the node image (never fought)
    assert {k: tserver["spec"]["release"][k] for k in ("id", "image")} == {"id": "rel-1", "image": image}
    assert set(tserver["spec"]["release"]) == {"id", "image", "time", "nodeImage", "nodeSecret"}
    [record] = mono.releases()
    created = record.pop("createTime")
    assert record == {"id": "rel-1", "image": image, "createPerson": "alice", "mark": "first rollout"}

    # an upgrade of the same release (replicas changed): its record stays the one of its first deploy
    values.write_text(values.read_text().replace("replicas: 1", "replicas: 2"))
    short = mono.commit("Two log pinners")
    result, services = mono.release("--service", PINNED, "--user", "bob")
    assert result.returncode == 0, result.stderr
    assert mono.releases() == [{"id": "rel-1", "image": image, "createPerson": "alice", "mark": "first rollout",
                                "createTime": created}]

    # a rerun with nothing changed (other flags, other CI) deploys nothing
    plan = json.loads(mono("plan", "--json", "--service", PINNED, GITLAB_USER_LOGIN="someone").stdout)
    assert [(s["changed"], s["reasons"]) for s in plan["services"]] == [(False, ["cluster runs this release"])]

    # a new release id: filled from the CI's variables and git, the earlier release kept below it
    values.write_text(values.read_text().replace("id: rel-1", "id: rel-2"))
    short = mono.commit("Second pinned release")
    url = "https://gitlab.example.com/shop/-/pipelines/991"
    result, _ = mono.release("--service", PINNED, GITLAB_USER_LOGIN="gl-user", CI_PIPELINE_URL=url)
    assert result.returncode == 0, result.stderr
    newest, earlier = mono.releases()
    assert newest.pop("createTime") >= created
    assert newest == {"id": "rel-2", "image": image, "createPerson": "gl-user",
                      "mark": f"Second pinned release ({short}) {url}"}
    assert earlier == {"id": "rel-1", "image": image, "createPerson": "alice", "mark": "first rollout",
                       "createTime": created}


def test_user_and_reason_in_values_yaml_fill_the_record(mono):
    first, services = mono.release("--service", "Base.LogServer")
    assert first.returncode == 0, first.stderr
    image = pin_copy(mono, services["Base.LogServer"]["image"])
    pinned_service(mono, image, body="user: ci-bot\nreason: release 6 from the upstream pipeline\n")
    mono.commit("Pin with user and reason")
    result, services = mono.release("--service", PINNED, GITHUB_ACTOR="octo")
    assert result.returncode == 0, result.stderr
    [record] = mono.releases()
    assert (record["createPerson"], record["mark"]) == ("ci-bot", "release 6 from the upstream pipeline")
