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
    assert github["jobs"]["prod"]["if"] == "startsWith(github.ref, 'refs/tags/v') || github.event_name == 'workflow_dispatch'"


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
