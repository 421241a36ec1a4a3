"""A tag remembered as in the registry (tars_tasks/image/tag_memory.py) that the cluster cannot pull is forgotten,
so that the next plan asks the registry again and builds the image when the tag is gone (issue 23)."""
from __future__ import annotations

import json
import urllib.request

import pytest

from clustermono import ClusterMono, sample_in_cluster
from fakes.cluster import Outcome
from tars_tasks.image.spec import split_reference

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
LOG = "Base.LogServer"
MANIFESTS = ", ".join(("application/vnd.docker.distribution.manifest.v2+json",
                       "application/vnd.docker.distribution.manifest.list.v2+json",
                       "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"))


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


def delete_tag(ref: str) -> None:
    """Delete image:tag from the test's registry (by its manifest digest), as someone cleaning it up would."""
    name, tag, _ = split_reference(ref)
    host, repository = name.split("/", 1)
    head = urllib.request.Request(f"http://{host}/v2/{repository}/manifests/{tag}", method="HEAD",
                                  headers={"Accept": MANIFESTS})
    with urllib.request.urlopen(head, timeout=10) as answer:
        digest = answer.headers["Docker-Content-Digest"]
    delete = urllib.request.Request(f"http://{host}/v2/{repository}/manifests/{digest}", method="DELETE")
    with urllib.request.urlopen(delete, timeout=10) as answer:
        assert answer.status == 202


def remembered(mono: ClusterMono) -> set[str]:
    data = json.loads((mono.root / "dist/cache/registry-tags.json").read_text())
    return {f"{host}/{ref}" for host, refs in data["hosts"].items() for ref in refs}


def steps(mono: ClusterMono) -> list[str]:
    return json.loads(mono("plan", "--json", "--service", LOG).stdout)["services"][0]["steps"]


def test_a_tag_the_cluster_cannot_pull_is_forgotten_and_built_again(mono):
    result, services = mono.release("--service", LOG)
    assert result.returncode == 0, result.stderr
    image = services[LOG]["image"]
    assert image in remembered(mono)
    delete_tag(image)  # gone from the registry, still remembered: a deploy of it plans no build
    mono.helm("uninstall", "base-logserver", "-n", "tars", "--wait")
    assert mono.cluster.wait_for(lambda: not mono.cluster.objects("Pod", "tars"))
    assert steps(mono) == ["chart", "deploy"]

    mono.cluster.set_outcome(image, Outcome.imagepull(delay=0.4))
    result, services = mono.release("--service", LOG)
    assert result.returncode == 1
    reason = services[LOG]["reason"]
    assert "ImagePullBackOff" in reason and f"the cluster could not pull {image}: its tag is forgotten" in reason
    assert "--refresh" in reason
    assert image not in remembered(mono)
    assert steps(mono)[:2] == ["build", "push"]  # the registry was asked: the tag is gone
