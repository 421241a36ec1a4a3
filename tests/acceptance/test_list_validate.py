"""`invoke list` and `invoke validate` end to end: output, exit codes, located errors, no tracebacks."""
from __future__ import annotations

import json

import pytest


def test_list_json_on_sample(sample):
    result = sample("list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and "Base.HelloServer" in ids and len(ids) >= 6
    hello = next(r for r in rows if r["id"] == "Base.HelloServer")
    assert hello == {"id": "Base.HelloServer", "path": "services/Base/HelloServer", "template": "tars.cpp",
                     "dependsOn": ["Base.LogServer"]}


def test_list_table_and_service_filter(sample):
    result = sample("list", "--service", "Base.HelloServer", "--service", "Shop.CartServer")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "PATH", "TEMPLATE", "DEPENDS", "ON"]
    assert [line.split()[0] for line in lines[1:]] == ["Base.HelloServer", "Shop.CartServer"]


def test_validate_sample_is_clean(sample):
    result = sample("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "service(s) valid" in result.stderr


def test_validate_reports_every_problem_located_exit_1(sample):
    path = sample.root / "services/Shop/CartServer/values.yaml"
    text = path.read_text().replace("port: 11000", "port: 70000").replace("replicas: 3", "replicaz: 3")
    path.write_text(text)
    (sample.root / "services/Broken").mkdir()
    (sample.root / "services/Broken/values.yaml").write_text("app: [\n")
    result = sample("validate")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    out = result.stdout.splitlines()
    assert ("services/Broken/values.yaml:1:6: YAML syntax error: unclosed '[' (started here; the parser gave up at line 2)"
            in out)
    assert "services/Shop/CartServer/values.yaml:6:11: servants[0].port: 70000 is greater than 65535" in out
    assert "services/Shop/CartServer/values.yaml:9:1: replicaz: unknown key; did you mean replicas?" in out


def test_validate_json(sample):
    path = sample.root / "services/Base/AuthServer/values.yaml"
    path.write_text(path.read_text().replace("replicas: 2", "replicas: 200"))
    result = sample("validate", "--json", "--service", "Base.AuthServer")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert report["problems"] == [{"file": "services/Base/AuthServer/values.yaml", "line": 7, "col": 11,
                                   "path": "replicas", "message": "200 is greater than 99", "severity": "error"}]


def test_unknown_service_is_usage_error_exit_2(sample):
    result = sample("validate", "--service", "Nope.Server")
    assert result.returncode == 2
    assert "unknown service Nope.Server" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_is_usage_error_exit_2(sample):
    result = sample("list", env={"INVOKE_TARS_JOBS": "zero"})
    assert result.returncode == 2
    assert "tars.jobs: 'zero' is not an integer" in result.stderr


def test_settings_override_by_env(sample, tmp_path):
    other = sample.root / "elsewhere"
    (other / "X").mkdir(parents=True)
    (other / "X" / "values.yaml").write_text("app: Other\nserver: Svc\ntemplate: tars.cpp\n")
    result = sample("list", "--json", env={"INVOKE_TARS_SERVICES_DIR": "elsewhere"})
    assert [r["id"] for r in json.loads(result.stdout)] == ["Other.Svc"]


def test_template_prints_only_manifests(sample):
    import yaml

    result = sample("template", "--service", "Base.HelloServer", "--tag", "v1.0.0")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["kind"] for d in docs) == ["TImage", "TServer"]
    tserver = next(d for d in docs if d["kind"] == "TServer")
    assert tserver["spec"]["release"]["image"] == "127.0.0.1:5000/base/helloserver:v1.0.0"


def test_chart_writes_tgz_and_prints_path(sample):
    result = sample("chart", "--service", "Shop.CartServer", "--service", "Base.AuthServer", "--tag", "v3.0.1",
                    "--out", "out")
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert [p.rsplit("/", 1)[1].split("-3.0.1-")[0] for p in paths] == ["shop-cartserver", "base-authserver"]
    assert all((sample.root / "out" / p.rsplit("/", 1)[1]).is_file() for p in paths)


def test_template_of_invalid_service_is_refused_located(sample):
    path = sample.root / "services/Base/AuthServer/values.yaml"
    path.write_text(path.read_text().replace("port: 10020", "port: 19385"))
    result = sample("template", "--service", "Base.AuthServer")
    assert result.returncode == 1 and result.stdout == ""
    assert "services/Base/AuthServer/values.yaml:6:11: servants[0].port: 19385 is reserved by the TARS framework" in result.stderr



def test_chart_without_service_packages_every_service(sample):
    result = sample("chart", "--tag", "v1.0.0")
    assert result.returncode == 0, result.stderr
    names = sorted(p.rsplit("/", 1)[1].split("-1.0.0-")[0] for p in result.stdout.split())
    assert names == ["base-authserver", "base-helloserver", "base-logserver", "shop-cartserver", "shop-orderserver",
                     "shop-payserver", "shop-webgateway"]


def test_broken_invoke_yaml_exits_2_without_traceback(sample):
    (sample.root / "invoke.yaml").write_text("tars:\n  registry: [\n")
    result = sample("list")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: invoke.yaml:2:13: YAML syntax error: unclosed '[' (started here; the parser gave up at line 3)")
    (sample.root / "invoke.yaml").write_text("tars:\n  base_images: 3\n")
    result = sample("list")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "tars.base_images: expected a mapping of server type to image, got 3" in result.stderr


def test_bad_jobs_flag_is_usage_error_exit_2(sample):
    for args in (["release", "--dry-run", "--jobs", "x"], ["build", "--jobs", "0"]):
        result = sample(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "error: --jobs: " in result.stderr


def test_env_flag_and_variable_select_the_environment(sample):
    # the sample defines the environments staging and prod
    bad = sample("list", "--env", "qa")
    assert (bad.returncode, bad.stderr) == (2, "error: unknown environment 'qa' (known: prod, staging)\n")
    bad = sample("list", env={"INVOKE_TARS_ENV": "qa"})
    assert (bad.returncode, bad.stderr) == (2, "error: unknown environment 'qa' (known: prod, staging)\n")
    assert sample("list", "--env", "prod").returncode == 0


def test_validate_all_envs_checks_every_environment(sample):
    # the sample defines the environments staging and prod
    (sample.root / "services/Base/AuthServer/values.prod.yaml").write_text("replicas: -1\n")
    (sample.root / "services/Base/AuthServer/values.staging.yaml").write_text("replicas: 2\n")
    assert sample("validate", "--no-render", "--env", "staging").returncode == 0
    result = sample("validate", "--no-render", "--all-envs")
    assert result.returncode == 1
    assert "services/Base/AuthServer/values.prod.yaml:1:11: replicas: -1 is less than 0\n" in result.stdout
    ok = sample("validate", "--no-render", "--all-envs", "--service", "Base.LogServer")
    assert (ok.returncode, ok.stderr) == (0, "ok: 1 service(s) valid in each of 2 environment(s)\n")


def test_template_differs_between_environments_exactly_where_the_overlays_say(sample):
    import difflib

    # the sample defines the environments staging and prod
    (sample.root / "services/Base/AuthServer/values.prod.yaml").write_text("replicas: 3\n")
    staging = sample("template", "--env", "staging", "--service", "Base.AuthServer")
    prod = sample("template", "--env", "prod", "--service", "Base.AuthServer")
    changed = [line for line in difflib.unified_diff(staging.stdout.splitlines(), prod.stdout.splitlines(), n=0)
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    # each environment's namespace (invoke.yaml), replicas (values.prod.yaml), imagePullPolicy (environments/prod.yaml)
    assert changed == ["-  namespace: tars-staging", "+  namespace: tars-prod"] * 2 + [
        '-    tars-tasks.io/declared-replicas: "2"', '+    tars-tasks.io/declared-replicas: "3"',
        "-    replicas: 2", "+    replicas: 3", "+    imagePullPolicy: Always"]


@pytest.mark.parametrize("task", ["validate", "template", "chart"])
def test_a_named_service_whose_file_does_not_parse_gets_its_located_error(sample, task):
    """Not "unknown service": the file's text plainly says it is Shop.CartServer."""
    values = sample.root / "services/Shop/CartServer/values.yaml"
    values.write_text(values.read_text().replace("\nreplicas: 3\n", "\nreplicas: [3\n"))
    result = sample(task, "--service", "Shop.CartServer")
    assert result.returncode == 1
    assert result.stderr == ("services/Shop/CartServer/values.yaml:9:11: YAML syntax error: unclosed '[' "
                             "(started here; the parser gave up at line 10)\n1 problem(s) found\n")
    assert result.stdout == ""


def test_list_names_every_file_it_skips_and_why(sample):
    for folder, text in (("X/NoApp", "app: null\nserver: NoApp\ntemplate: tars.cpp\n"),
                         ("X/NoServer", "app: X\nserver:\ntemplate: tars.cpp\n"),
                         ("X/Unnamed", "template: tars.cpp\n")):
        (sample.root / "services" / folder).mkdir(parents=True)
        (sample.root / "services" / folder / "values.yaml").write_text(text)
    result = sample("list")
    assert result.returncode == 0, result.stderr
    assert "X." not in result.stdout
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: not listed: ")]
    assert notes == [
        "note: not listed: services/X/NoApp/values.yaml:1:6: app: null (a service is named App.Server by its app and "
        "server)",
        "note: not listed: services/X/NoServer/values.yaml:2:8: server: null (a service is named App.Server by its "
        "app and server)",
        "note: not listed: services/X/Unnamed/values.yaml:1:1: missing key 'app' (a service is named App.Server by its "
        "app and server)"]
