"""What the chart does with live objects (helm `lookup`), against a fake API server that serves them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tars_tasks.chart.package import package
from tars_tasks.validate.conformance import parse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fakes"))
from kube_api import FakeKubeApi  # noqa: E402

pytestmark = [pytest.mark.helm, pytest.mark.cluster]
NS = "tars"


def render_live(helm_bin, repo, api: FakeKubeApi, tmp_path, values: str, tag="t2") -> dict[str, dict]:
    repo.write("services/S/values.yaml", "app: Base\nserver: HelloServer\ntemplate: tars.cpp\n" + values)
    project = repo.load()
    project.require_valid()
    service = project.services[0]
    _, chart = package(service, project.settings, tag, tmp_path / "charts")
    env = {**os.environ, "KUBECONFIG": str(api.kubeconfig(tmp_path / "kubeconfig"))}
    out = subprocess.run([helm_bin, "template", service.name, str(chart), "-n", NS, "--dry-run=server",
                          "--disable-openapi-validation"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return {d["kind"]: d for d in parse(out.stdout) if d["kind"] in ("TServer", "TImage")}


def live_tserver(api, replicas, declared):
    api.add("TServer", NS, "base-helloserver", {
        "metadata": {"annotations": {"tars-tasks.io/declared-replicas": str(declared)}},
        "spec": {"k8s": {"replicas": replicas}}}, release="base-helloserver")


def test_replicas_scaled_to_zero_in_the_cluster_stay_zero(helm_bin, repo, tmp_path):
    with FakeKubeApi() as api:
        live_tserver(api, replicas=0, declared=2)
        docs = render_live(helm_bin, repo, api, tmp_path, "replicas: 2\n")
    assert docs["TServer"]["spec"]["k8s"]["replicas"] == 0
    assert any(p.endswith("/tservers/base-helloserver") for p in api.requests)


def test_replicas_scaled_up_by_a_person_are_kept(helm_bin, repo, tmp_path):
    with FakeKubeApi() as api:
        live_tserver(api, replicas=7, declared=2)
        docs = render_live(helm_bin, repo, api, tmp_path, "replicas: 2\n")
    assert docs["TServer"]["spec"]["k8s"]["replicas"] == 7


def test_a_changed_declaration_wins_over_the_live_count(helm_bin, repo, tmp_path):
    with FakeKubeApi() as api:
        live_tserver(api, replicas=7, declared=2)
        docs = render_live(helm_bin, repo, api, tmp_path, "replicas: 4\n")
    assert docs["TServer"]["spec"]["k8s"]["replicas"] == 4
    assert docs["TServer"]["metadata"]["annotations"]["tars-tasks.io/declared-replicas"] == "4"


def test_first_install_uses_the_declaration(helm_bin, repo, tmp_path):
    with FakeKubeApi() as api:
        docs = render_live(helm_bin, repo, api, tmp_path, "")
    assert docs["TServer"]["spec"]["k8s"]["replicas"] == 1


def test_earlier_image_releases_are_kept_newest_first_at_most_120(helm_bin, repo, tmp_path):
    earlier = [{"id": f"r{i}", "image": f"127.0.0.1:5000/base/helloserver:r{i}"} for i in range(130)]
    with FakeKubeApi() as api:
        api.add("TImage", NS, "base-helloserver", {"imageType": "server", "releases": [
            {"id": "t2", "image": "127.0.0.1:5000/base/helloserver:t2"}] + earlier}, release="base-helloserver")
        docs = render_live(helm_bin, repo, api, tmp_path, "")
    releases = docs["TImage"]["releases"]
    assert releases[0] == {"id": "t2", "image": "127.0.0.1:5000/base/helloserver:t2"}
    assert [r["id"] for r in releases[1:4]] == ["r0", "r1", "r2"]
    assert len(releases) == 120 and [r["id"] for r in releases].count("t2") == 1
