"""The ready CI pipelines run the same tasks a person runs, with flags those tasks have."""
from __future__ import annotations

import re
import shlex
import subprocess

import pytest
import yaml

from support import REPO_ROOT
from tars_tasks.tasks import ns

PIPELINES = sorted((REPO_ROOT / "ci").glob("*.yml"))


def invoke_lines(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for v in node.values():
            found += invoke_lines(v)
    elif isinstance(node, list):
        for v in node:
            found += invoke_lines(v)
    elif isinstance(node, str):
        found += [m.group(0) for m in re.finditer(r"invoke [^\n>|&]+", node)]
    return found


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_pipeline_commands_are_real_tasks_and_flags(path):
    lines = invoke_lines(yaml.safe_load(path.read_text()))
    assert any(line.startswith("invoke plan") for line in lines)
    # main releases to staging (what changed since the previous commit), tags or a manual job to prod
    assert any(line.startswith("invoke release --env staging --since") for line in lines)
    assert any(line.startswith("invoke release --env prod ") for line in lines)
    assert "invoke validate --all-envs" in lines
    assert any(re.fullmatch(r'invoke interfaces --since "[^"]+" --check\s*', line) for line in lines)
    for line in lines:
        words = shlex.split(line.replace("${{", "").replace("}}", ""))
        task = ns.tasks[words[1]]
        flags = {n for arg in task.get_arguments() for n in arg.names}
        for word in words[2:]:
            if word.startswith("--"):
                assert word[2:].split("=")[0] in flags, f"{path.name}: {line}: unknown flag {word}"


def job_commands(doc: dict) -> dict[str, list[str]]:
    """Each job's shell commands in order: GitLab's (default) before_script + script, GitHub's run steps."""
    if "jobs" in doc:  # GitHub Actions
        return {name: [step["run"] for step in job["steps"] if "run" in step] for name, job in doc["jobs"].items()}
    default = (doc.get("default") or {}).get("before_script", [])
    return {name: [*job.get("before_script", default), *job["script"]]
            for name, job in doc.items() if isinstance(job, dict) and "script" in job}


def pipeline_variables(doc: dict) -> dict:
    return doc.get("env") or doc.get("variables") or {}


# what a user's monorepo has of this repository's top level: the rest exists only here
MONOREPO_FILES = {"services", "tasks.py", "invoke.yaml", ".gitignore", "README.md"}
REPO_ONLY = sorted({line.split("/")[0] for line in subprocess.run(
    ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.splitlines()}
    - MONOREPO_FILES)


def test_repo_only_paths_are_known():
    assert {"scripts", "tars_tasks", "tests", "pyproject.toml", "ci"} <= set(REPO_ONLY)


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_pipelines_need_nothing_of_this_repository(path):
    """A pipeline copied into any monorepo works there: it names no file that exists only in this repository."""
    for job, commands in job_commands(yaml.safe_load(path.read_text())).items():
        for command in commands:
            for word in shlex.split(command.replace("${{", "").replace("}}", "")):
                assert word not in ("-e", "--editable", "."), f"{path.name}: {job}: {command}"
                assert not word.startswith((".[", "./", "-e.")), f"{path.name}: {job}: {command}"
                first = word.split("/")[0]
                assert first not in REPO_ONLY, f"{path.name}: {job}: {command}: {word} exists only in tars-tasks"


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_every_job_installs_the_pinned_package_and_its_helm_before_invoke(path):
    doc = yaml.safe_load(path.read_text())
    version = re.search(r'^version = "(.+)"$', (REPO_ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert pipeline_variables(doc)["TARS_TASKS_VERSION"] == version
    jobs = job_commands(doc)
    assert jobs
    for job, commands in jobs.items():
        first_invoke = next(i for i, c in enumerate(commands) if c.startswith("invoke "))
        before = " && ".join(commands[:first_invoke])
        assert re.search(r'pip install (-q )?"tars-tasks==\$\{TARS_TASKS_VERSION\}"', before), f"{path.name}: {job}"
        assert "python -m tars_tasks.install_helm" in before, f"{path.name}: {job}"
        assert before.index("tars-tasks==") < before.index("tars_tasks.install_helm"), f"{path.name}: {job}"


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_pipelines_show_the_git_mirror_alternative(path):
    mirror = r'#\s+python -m pip install (-q )?"tars-tasks @ git\+https://<your mirror>/tars-tasks@v\$\{TARS_TASKS_VERSION\}"'
    assert re.search(mirror, path.read_text())


def test_main_goes_to_staging_and_tags_or_a_manual_run_to_prod_with_that_environments_secrets():
    gitlab = yaml.safe_load((REPO_ROOT / "ci" / "gitlab-ci.yml").read_text())
    assert [(job, gitlab[job]["environment"]["name"], gitlab[job]["rules"][0]["if"]) for job in ("staging", "prod")] == [
        ("staging", "staging", "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"), ("prod", "prod", "$CI_COMMIT_TAG")]
    github = yaml.safe_load((REPO_ROOT / "ci" / "github-actions.yml").read_text())
    on = github[True]  # YAML 1.1 reads the key `on` as true
    assert (on["push"]["tags"], "workflow_dispatch" in on) == (["v*"], True)
    for job in ("staging", "prod"):
        spec = github["jobs"][job]
        assert spec["environment"] == job
        assert spec["env"]["TARS_AGE_KEY"] == "${{ secrets.TARS_AGE_KEY }}"
        assert spec["env"]["KUBECONFIG_B64"] == "${{ secrets.KUBECONFIG_B64 }}"
    assert github["jobs"]["prod"]["if"] == ("startsWith(github.ref, 'refs/tags/v') || "
                                            "(github.event_name == 'workflow_dispatch' && inputs.action == 'release')")


def test_a_paused_canary_has_a_manual_promote_and_abort_job_pair():
    gitlab = yaml.safe_load((REPO_ROOT / "ci" / "gitlab-ci.yml").read_text())
    github = yaml.safe_load((REPO_ROOT / "ci" / "github-actions.yml").read_text())
    for action in ("promote", "abort"):
        job = gitlab[f"canary-{action}"]
        assert job["rules"] == [{"if": "$CI_COMMIT_TAG", "when": "manual"}] and job["resource_group"] == "release-prod"
        assert job["script"][-1] == f'invoke {action} --env prod --service "$CANARY_SERVICE" --json > canary-report.json'
        spec = github["jobs"][f"canary-{action}"]
        assert spec["if"] == f"github.event_name == 'workflow_dispatch' && inputs.action == '{action}'"
        assert spec["environment"] == "prod" and spec["concurrency"] == "release-prod"
        assert f'invoke {action} --env prod --service "${{{{ inputs.service }}}}" --json > canary-report.json' in [
            step.get("run") for step in spec["steps"]]
    assert github[True]["workflow_dispatch"]["inputs"]["action"]["options"] == ["release", "promote", "abort"]


def test_main_builds_in_parallel_shards_then_one_release_that_builds_nothing():
    gitlab = yaml.safe_load((REPO_ROOT / "ci" / "gitlab-ci.yml").read_text())
    build = gitlab["build"]
    assert (build["stage"], build["parallel"], gitlab["stages"]) == ("build", 3, ["check", "build", "release"])
    assert build["rules"] == gitlab["staging"]["rules"] and gitlab["staging"]["needs"] == ["build"]
    [command] = [c for c in build["script"] if c.startswith("invoke ")]
    assert shlex.split(command)[:5] == ["invoke", "build", "--env", "staging", "--shard"]
    assert shlex.split(command)[5] == "$CI_NODE_INDEX/$CI_NODE_TOTAL"  # GitLab numbers parallel jobs 1..N
    github = yaml.safe_load((REPO_ROOT / "ci" / "github-actions.yml").read_text())
    build = github["jobs"]["build"]
    assert build["strategy"]["matrix"]["shard"] == [1, 2, 3] and github["jobs"]["staging"]["needs"] == "build"
    assert build["if"] == github["jobs"]["staging"]["if"]
    [command] = [s["run"] for s in build["steps"] if s.get("run", "").startswith("invoke ")]
    assert '--shard "${{ matrix.shard }}/${{ strategy.job-total }}"' in command
    assert build["env"]["TARS_REGISTRY_PASSWORD"] == "${{ secrets.TARS_REGISTRY_PASSWORD }}"


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_the_merge_request_job_fails_on_a_breaking_interface_change(path):
    """`invoke interfaces --since BASE --check` runs where the plan of a merge request runs, against its base."""
    jobs = job_commands(yaml.safe_load(path.read_text()))
    plan_job = next(commands for commands in jobs.values() if any(c.startswith("invoke plan ") for c in commands))
    base = re.search(r'--since ("[^"]+")', next(c for c in plan_job if c.startswith("invoke plan "))).group(1)
    assert f"invoke interfaces --since {base} --check" in plan_job


GITLAB = REPO_ROOT / "ci" / "gitlab-ci.yml"
GITHUB = REPO_ROOT / "ci" / "github-actions.yml"


@pytest.mark.parametrize(("path", "schema"), [(GITLAB, "vendor.gitlab-ci"), (GITHUB, "vendor.github-workflows")],
                         ids=["gitlab", "github"])
def test_pipelines_are_valid_against_their_platforms_schemas(path, schema):
    """check-jsonschema's schemas ship in the package: no network needed."""
    import sys

    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout.strip()) == (0, "ok -- validation done"), result.stdout + result.stderr


def gitlab_rule_matches(expression: str, variables: dict[str, str]) -> bool:
    """GitLab's `rules:if` for the forms the pipeline uses: `$A`, `$A == "x"`, `$A == $B`, joined by `&&`."""
    def value(term: str) -> str:
        term = term.strip()
        return variables.get(term[1:], "") if term.startswith("$") else term.strip('"')

    for clause in expression.split("&&"):
        if "==" in clause:
            left, right = clause.split("==")
            if value(left) != value(right):
                return False
        elif not value(clause):
            return False
    return True


def gitlab_runs(doc: dict, variables: dict[str, str]) -> bool:
    """Whether `workflow:rules` starts a pipeline for an event with these predefined variables."""
    for rule in doc["workflow"]["rules"]:
        if gitlab_rule_matches(rule["if"], variables):
            return rule.get("when", "always") != "never"
    return False


def test_gitlab_runs_one_pipeline_per_push_to_a_merge_request():
    doc = yaml.safe_load(GITLAB.read_text())
    branch = {"CI_COMMIT_BRANCH": "feature", "CI_PIPELINE_SOURCE": "push", "CI_DEFAULT_BRANCH": "main"}
    with_mr = {**branch, "CI_OPEN_MERGE_REQUESTS": "group/mono!7"}
    mr_event = {"CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main",
                "CI_MERGE_REQUEST_DIFF_BASE_SHA": "abc"}  # no CI_COMMIT_BRANCH in a merge request pipeline
    # a push to a branch with an open merge request: the merge request pipeline only
    assert (gitlab_runs(doc, with_mr), gitlab_runs(doc, mr_event)) == (False, True)
    assert gitlab_runs(doc, branch)  # a branch without a merge request: its branch pipeline
    assert gitlab_runs(doc, {**branch, "CI_COMMIT_BRANCH": "main"})  # main: releases to staging
    assert gitlab_runs(doc, {"CI_COMMIT_TAG": "v1.2.3", "CI_PIPELINE_SOURCE": "push"})  # a tag: releases to prod
    # and the jobs of each: the plan in the merge request, staging on main, prod on a tag
    assert gitlab_rule_matches(doc["plan"]["rules"][0]["if"], mr_event)
    assert gitlab_rule_matches(doc["staging"]["rules"][0]["if"], {**branch, "CI_COMMIT_BRANCH": "main"})
    assert not gitlab_rule_matches(doc["staging"]["rules"][0]["if"], branch)


def test_gitlab_build_job_has_a_docker_engine_on_the_docker_executor():
    """Docker-in-Docker with TLS as GitLab documents it; the SDK reads DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH."""
    text = GITLAB.read_text()
    build = yaml.safe_load(text)["build"]
    [service] = build["services"]
    assert re.fullmatch(r"docker:[\d.]+-dind", service["name"]) and service["alias"] == "docker"
    assert build["variables"] == {"DOCKER_HOST": "tcp://docker:2376", "DOCKER_TLS_CERTDIR": "/certs",
                                  "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/certs/client"}
    # and how to use a runner's own engine instead, with the runner settings dind needs
    # (the SDK turns TLS on when either DOCKER_TLS_VERIFY or DOCKER_CERT_PATH is set: both are emptied)
    host_engine = " ".join(line.lstrip("# ") for line in text.splitlines() if line.startswith("#"))
    assert ("DOCKER_HOST=unix:///var/run/docker.sock, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH (both empty: no TLS)"
            in host_engine)
    import docker.errors
    import docker.utils

    host = {**build["variables"], "DOCKER_HOST": "unix:///var/run/docker.sock", "DOCKER_TLS_VERIFY": "",
            "DOCKER_CERT_PATH": ""}
    assert docker.utils.kwargs_from_env(environment=host) == {"base_url": "unix:///var/run/docker.sock"}
    with pytest.raises(docker.errors.TLSParameterError):  # dind's: TLS on, with the certificates dind shares
        docker.utils.kwargs_from_env(environment=build["variables"])
    assert "privileged = true" in text
    assert 'volumes = ["/certs/client", "/cache"]' in text


def test_gitlab_caches_pip_and_helm_where_the_tool_puts_them(monkeypatch):
    from tars_tasks.core.settings import user_helm_path
    from tars_tasks.scaffold import GITIGNORE

    doc = yaml.safe_load(GITLAB.read_text())
    variables, cache = doc["variables"], doc["default"]["cache"]
    monkeypatch.setenv("XDG_DATA_HOME", variables["XDG_DATA_HOME"])
    helm_dir = user_helm_path().parent.as_posix()  # where install_helm puts helm and the settings find it
    project = "$CI_PROJECT_DIR/"
    assert helm_dir.startswith(project) and variables["PIP_CACHE_DIR"].startswith(project)
    assert sorted(cache["paths"]) == sorted([variables["PIP_CACHE_DIR"][len(project):], helm_dir[len(project):]])
    assert ".cache/" in GITIGNORE.splitlines() and all(p.startswith(".cache/") for p in cache["paths"])
    # every job reads the one cache; `validate`, which runs in every pipeline and first, also writes it
    jobs = {name: job for name, job in doc.items() if isinstance(job, dict) and "script" in job}
    writers = [name for name, job in jobs.items() if job.get("cache", cache)["policy"] == "pull-push"]
    assert writers == ["validate"] and "rules" not in jobs["validate"] and jobs["validate"]["stage"] == doc["stages"][0]
    assert {job.get("cache", cache)["key"] for job in jobs.values()} == {"tars-tasks-$TARS_TASKS_VERSION"}


@pytest.mark.parametrize(("cached", "npm", "apt_runs"), [(True, False, False), (False, True, False),
                                                         (False, False, True)])
def test_gitlab_installs_npm_only_when_helm_is_not_cached(tmp_path, cached, npm, apt_runs):
    """The before_script line that installs npm, run with a stub apt-get: only a cold cache without npm runs it."""
    doc = yaml.safe_load(GITLAB.read_text())
    [line] = [c for c in doc["default"]["before_script"] if "apt-get" in c]
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    bin_dir.mkdir()
    stubs = {"apt-get": f'#!/bin/sh\necho "$@" >> {log}\n'} | ({"npm": "#!/bin/sh\n"} if npm else {})
    for name, body in stubs.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    data = tmp_path / "share"
    if cached:
        (data / "tars-tasks" / "bin").mkdir(parents=True)
        (data / "tars-tasks" / "bin" / "helm").write_text("#!/bin/sh\n")
        (data / "tars-tasks" / "bin" / "helm").chmod(0o755)
    result = subprocess.run(["/bin/sh", "-c", line], env={"PATH": str(bin_dir), "XDG_DATA_HOME": str(data)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines() if log.exists() else []
    assert calls == (["update -qq", "install -y -qq npm"] if apt_runs else [])


def test_github_caches_pip_and_the_pinned_helm_and_uses_it():
    from tars_tasks.scaffold import CI_FILES

    doc = yaml.safe_load(GITHUB.read_text())
    assert doc["concurrency"]["group"] == "tars-tasks-${{ github.ref }}"
    for name, job in doc["jobs"].items():
        steps = job["steps"]
        uses = [s.get("uses", "").split("@")[0] for s in steps]
        python = steps[uses.index("actions/setup-python")]["with"]
        # pip's cache, keyed by the workflow file that pins the version (where init writes it)
        assert (python["cache"], python["cache-dependency-path"]) == ("pip", CI_FILES["github"][1]), name
        helm_cache = steps[uses.index("actions/cache")]["with"]
        assert helm_cache["path"] == "~/.local/share/tars-tasks/bin", name
        assert "${{ env.TARS_TASKS_VERSION }}" in helm_cache["key"], name
        runs = [s.get("run", "") for s in steps]
        install = next(i for i, r in enumerate(runs) if "tars_tasks.install_helm" in r)
        first_invoke = next(i for i, r in enumerate(runs) if r.startswith("invoke "))
        assert uses.index("actions/cache") < install < first_invoke, name
        # the runners have a helm of their own on PATH: the pinned one is installed and chosen anyway
        assert runs[install].endswith("python -m tars_tasks.install_helm --force"), name
        assert 'echo "INVOKE_TARS_HELM=$HOME/.local/share/tars-tasks/bin/helm" >> "$GITHUB_ENV"' in runs[
            install:first_invoke], name
