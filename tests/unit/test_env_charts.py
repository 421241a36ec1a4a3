"""Everything per environment: chart versions follow the merged values, images do not depend on the environment."""
import pytest

from support import Monorepo
from tars_tasks.chart.package import assemble
from tars_tasks.image.artifacts import resolve
from tars_tasks.plan.changes import services_touched

ENVS = {"staging": {"namespace": "tars-staging"}, "prod": {"namespace": "tars-prod"}}


@pytest.fixture
def mono(tmp_path):
    m = Monorepo(tmp_path)
    for server in ("S", "T"):
        m.service("A", server, "servants:\n  - name: Obj\n    port: 10000\nreplicas: 1\nbuild:\n  type: go\n"
                               f"  files: [{server}]\n")
        m.write(f"services/A/{server}/{server}", "binary\n")
    return m


def versions(mono, env):
    project = mono.load(environments=ENVS, env=env)
    arts = resolve(project.settings, project.services)
    return ({s.id: assemble(s, project.settings, arts[s.id].tag).version for s in project.services},
            {sid: a.fingerprint for sid, a in arts.items()})


def test_prod_only_overlay_changes_prod_chart_only_and_no_image(mono):
    staging_before, staging_fp = versions(mono, "staging")
    prod_before, prod_fp = versions(mono, "prod")
    mono.write("services/A/S/values.prod.yaml", "replicas: 3\n")
    staging_after, staging_fp_after = versions(mono, "staging")
    prod_after, prod_fp_after = versions(mono, "prod")
    assert staging_after == staging_before
    assert prod_after["A.S"] != prod_before["A.S"] and prod_after["A.T"] == prod_before["A.T"]
    assert staging_fp == prod_fp == staging_fp_after == prod_fp_after


def test_merged_values_reach_the_chart(mono):
    mono.write("services/A/S/values.prod.yaml", "replicas: 3\nservants:\n  - name: Obj\n    thread: 8\n")
    project = mono.load(environments=ENVS, env="prod")
    service = project.by_id()["A.S"]
    chart = assemble(service, project.settings, "t1")
    assert b'"replicas": 3' in chart.values and b'"thread": 8' in chart.values


def test_since_counts_only_this_environments_overlays(mono):
    project = mono.load(environments=ENVS)
    files = ["services/A/S/values.prod.yaml", "environments/staging.yaml"]
    root = mono.root
    assert services_touched(root, project.services, files, env="prod") == {"A.S": ["services/A/S/values.prod.yaml"]}
    assert services_touched(root, project.services, files, env="staging") == {
        "A.S": ["environments/staging.yaml"], "A.T": ["environments/staging.yaml"]}
    assert services_touched(root, project.services, ["services/A/S/values.prod.yaml"], env="") == {}
