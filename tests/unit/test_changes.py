"""--since: which services a set of changed files touches."""


def test_since_touches_every_service_when_the_chart_template_changes():
    from support import REPO_ROOT, sample_envs
    from tars_tasks.core.settings import Settings
    from tars_tasks.plan.changes import services_touched
    from tars_tasks.project import Project

    project = Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs()}))
    everything = {s.id for s in project.services}
    assert set(services_touched(REPO_ROOT, project.services, ["tars_tasks/chart/helm-chart/templates/tserver.yaml"])) == everything
    assert set(services_touched(REPO_ROOT, project.services, ["tars_tasks/image/dockerfiles/cpp.Dockerfile.j2"])) == everything
    assert services_touched(REPO_ROOT, project.services, ["README.md"]) == {}
    assert set(services_touched(REPO_ROOT, project.services, ["services/libs/common/money.js"])) == {
        "Shop.CartServer", "Shop.WebGateway"}
