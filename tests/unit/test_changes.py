"""--since: which services a set of changed files touches."""


def test_since_touches_every_service_when_the_chart_template_changes():
    from support import REPO_ROOT, sample_envs
    from tars_tasks.core.settings import Settings
    from tars_tasks.plan.changes import services_touched
    from tars_tasks.project import Project

    project = Project.load(Settings.from_mapping({"root": str(REPO_ROOT), "environments": sample_envs()}))
    everything = {s.id for s in project.services}
    assert set(services_touched(REPO_ROOT, project.services, ["helm-template/templates/tserver.yaml"])) == everything
    assert set(services_touched(REPO_ROOT, project.services, ["tars_tasks/image/dockerfiles/cpp.Dockerfile.j2"])) == everything
    assert services_touched(REPO_ROOT, project.services, ["README.md"]) == {}
    assert set(services_touched(REPO_ROOT, project.services, ["services/libs/common/money.js"])) == {
        "Shop.CartServer", "Shop.WebGateway"}


def test_changed_paths_reach_their_folders_inputs_and_nothing_that_only_shares_a_prefix(tmp_path):
    from support import Monorepo
    from tars_tasks.plan.changes import services_touched

    repo = Monorepo(tmp_path / "repo")
    repo.service("A", "S", "build:\n  type: go\n  inputs: [libs/common, proto/api.proto]\n")
    repo.service("A", "S2", "")
    repo.service("A", "Inner", "", folder="A/S2/inner")  # a service folder inside another
    repo.service("B", "Everything", "build:\n  type: go\n  inputs: [.]\n")
    services = repo.load().services
    files = ["services/A/S/main.go", "services/A/S2/x.go", "services/A/S2/inner/y.go", "libs/common/m.go",
             "libs/commonplace/z.go", "proto/api.proto", "proto/api.proto.bak", "services/A/S2/values.prod.yaml",
             "README.md"]
    touched = services_touched(repo.root, services, files, env="staging")
    everything = sorted(set(files) - {"services/A/S2/values.prod.yaml"})  # another environment's overlay
    assert touched == {
        "A.S": ["libs/common/m.go", "proto/api.proto", "services/A/S/main.go"],
        "A.S2": ["services/A/S2/inner/y.go", "services/A/S2/x.go"],
        "A.Inner": ["services/A/S2/inner/y.go"],
        "B.Everything": everything,
    }
    assert services_touched(repo.root, services, ["services/A/S2/values.prod.yaml"], env="prod") == {
        "A.S2": ["services/A/S2/values.prod.yaml"], "B.Everything": ["services/A/S2/values.prod.yaml"]}
