"""One monorepo, two environments, one cluster: a prod-only change plans a deploy for prod and nothing for
staging; images are the same in both."""
from __future__ import annotations

import json

import pytest

from clustermono import ClusterMono, sample_in_cluster

pytestmark = [pytest.mark.docker, pytest.mark.helm, pytest.mark.cluster]
SECRET = {"TARS_SECRET_PAY_API_KEY": "k-9f2c41d7e0b3"}  # PayServer's prod config uses it


@pytest.fixture
def mono(tmp_path, cluster_registry):
    with sample_in_cluster(ClusterMono, tmp_path, cluster_registry, ready_after=0.1) as m:
        yield m


def changed(mono: ClusterMono, env: str) -> dict[str, bool]:
    result = mono("plan", "--env", env, "--json", **SECRET)
    assert result.returncode == 0, result.stderr
    return {s["id"]: s["changed"] for s in json.loads(result.stdout)["services"]}


def test_a_prod_only_overlay_change_redeploys_prod_only(mono):
    for env in ("staging", "prod"):
        result, services = mono.release("--env", env, **SECRET)
        assert result.returncode == 0, result.stderr
        assert {s["status"] for s in services.values()} == {"deployed"}
    staging_image = mono.cluster.get("TServer", "tars-staging", "shop-orderserver")["spec"]["release"]["image"]
    prod = mono.cluster.get("TServer", "tars-prod", "shop-orderserver")
    assert prod["spec"]["release"]["image"] == staging_image  # what was tested in staging is what runs in prod
    assert prod["spec"]["k8s"]["replicas"] == 4  # the prod overlay
    assert mono.cluster.get("TServer", "tars-staging", "shop-orderserver")["spec"]["k8s"]["replicas"] == 2
    assert set(changed(mono, "staging").values()) == set(changed(mono, "prod").values()) == {False}

    overlay = mono.root / "services/Shop/OrderServer/values.prod.yaml"
    overlay.write_text(overlay.read_text().replace("replicas: 4", "replicas: 5"))
    assert set(changed(mono, "staging").values()) == {False}
    assert {sid for sid, c in changed(mono, "prod").items() if c} == {"Shop.OrderServer"}
    result, services = mono.release("--env", "prod", **SECRET)
    assert result.returncode == 0, result.stderr
    assert {sid for sid, s in services.items() if s["status"] == "deployed"} == {"Shop.OrderServer"}
    assert services["Shop.OrderServer"]["build"] is None  # the image is shared: nothing rebuilt
    assert mono.cluster.get("TServer", "tars-prod", "shop-orderserver")["spec"]["k8s"]["replicas"] == 5
