"""`python -m tars_tasks init` and `invoke init`: a new monorepo that works as written — it validates and dry-runs."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile

from conftest import Cli

from support import REPO_ROOT, init_git, tool_env


def test_init_makes_a_monorepo_that_validates_and_dry_runs(tmp_path, registry, namespace, docker_client, helm_bin):
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from make_base_images import ensure

    ensure(docker_client, ["tarscloud/tars.nodejsbase:v1beta3"])  # the example's base image (setup.sh makes it)
    root = tmp_path / "mono"
    made = subprocess.run([sys.executable, "-m", "tars_tasks", "init", str(root)], cwd=tmp_path, capture_output=True,
                          text=True, env=tool_env(), timeout=120)
    assert made.returncode == 0, made.stderr
    assert [line for line in made.stdout.splitlines() if not line.startswith((f"{root}/helm-template/",
                                                                               f"{root}/schema/"))] == [
        f"{root}/{rel}" for rel in ("tasks.py", "invoke.yaml", ".gitignore", "services/Demo/HelloServer/values.yaml",
                                    "services/Demo/HelloServer/Hello.tars", "services/Demo/HelloServer/index.js",
                                    "services/Demo/HelloServer/package.json", ".gitlab-ci.yml")]
    own = root / "helm-template" / "templates" / "tserver.yaml"
    own.write_text(own.read_text() + "# this monorepo's chart\n")  # the monorepo's copy is the one used
    init_git(root)
    cli = Cli(root)
    env = {"INVOKE_TARS_REGISTRY": f"{registry.host}/{namespace}"}  # this test's images, removed at the end

    validated = cli("validate", "--all-envs", env=env)  # as the CI pipeline runs it: renders with helm-template/
    assert (validated.returncode, validated.stdout) == (0, ""), validated.stderr
    assert validated.stderr == "ok: 1 service(s) valid in each of 2 environment(s)\n"

    released = cli("release", "--all", "--dry-run", "--json", env=env)
    assert released.returncode == 0, released.stdout + released.stderr
    report = json.loads(released.stdout)
    assert (report["ok"], report["dryRun"], report["counts"]) == (True, True, {"dry-run": 1})
    [service] = report["services"]
    assert service["id"] == "Demo.HelloServer" and service["build"]["status"] == "built"
    assert service["image"].startswith(f"{registry.host}/{namespace}/demo/helloserver:")
    assert docker_client.images.get(service["image"]).labels["io.tars-tasks.service"] == "Demo.HelloServer"
    # the chart packaged is the monorepo's own copy, and what the run wrote is ignored by git
    assert service["chart"].startswith(str(root / "dist" / "charts" / "demo-helloserver-0.0.0-r"))
    with tarfile.open(service["chart"]) as tgz:
        assert tgz.extractfile("demo-helloserver/templates/tserver.yaml").read() == own.read_bytes()
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True)
    assert status.stdout == ""


def test_invoke_init_from_a_repository_with_tasks_py(tmp_path):
    cli = Cli(REPO_ROOT)
    target = tmp_path / "new"
    made = cli("init", "--path", str(target), "--ci", "github")
    assert made.returncode == 0, made.stderr
    assert f"{target}/.github/workflows/tars-tasks.yml" in made.stdout.splitlines()
    assert (target / "tasks.py").is_file() and not (target / ".gitlab-ci.yml").exists()

    again = cli("init", "--path", str(target), "--ci", "github")
    assert again.returncode == 2
    assert again.stdout == ""
    assert again.stderr.splitlines()[0] == (f"error: {target}: {len(made.stdout.splitlines())} file(s) exist already; "
                                            "nothing written (init never overwrites):")
    assert "Traceback" not in again.stderr
