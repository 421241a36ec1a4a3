"""The installable library: the wheel built from this checkout, installed in a fresh venv, runs a monorepo.

Once per session: build the wheel (from a copy of the sources, so no stale build/ or egg-info of the checkout
leaks in), create a venv without system site-packages (the host's editable install must stay out), install
the wheel with its dependencies from the package index, and install helm with the shipped installer into a
private XDG_DATA_HOME. Then every test runs the venv's `invoke` in a throwaway monorepo outside the checkout,
with a PATH that has no helm on it: what a user gets from `pip install tars-tasks` in their own monorepo.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from support import REPO_ROOT, sample_environments
from tars_tasks.core import assets

pytestmark = [pytest.mark.docker, pytest.mark.helm]

SAMPLE_IDS = ["Base.AuthServer", "Base.HelloServer", "Base.LogServer", "Shop.CartServer", "Shop.OrderServer",
              "Shop.PayServer", "Shop.WebGateway"]
TASKS_PY = "from tars_tasks.tasks import ns, preflight\npreflight(__file__)\n"
# a registry no one can reach (.invalid never resolves, RFC 2606), unique per session so the images this
# session builds are its own to remove; dry runs never push
REGISTRY = f"wheel-{uuid.uuid4().hex[:8]}.invalid"


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """`python -m build --wheel` on a copy of the checkout's package sources (isolated build, as a user's)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(REPO_ROOT / name, src / name)
    for name in ("tars_tasks", "helm-template", "schema", "ci"):
        shutil.copytree(REPO_ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    built = run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", src], cwd=work)
    assert built.returncode == 0, built.stdout + built.stderr
    [path] = (work / "dist").glob("tars_tasks-*.whl")
    return path


@dataclass
class Venv:
    root: Path
    env: dict[str, str]  # what every command in the venv runs with
    helm_install: subprocess.CompletedProcess

    @property
    def site_packages(self) -> Path:
        [path] = self.root.glob("lib/python*/site-packages")
        return path

    def python(self, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
        return run([self.root / "bin" / "python", *args], cwd=cwd, env=self.env)

    def invoke(self, *args: str, cwd: Path) -> subprocess.CompletedProcess:
        return run([self.root / "bin" / "invoke", *args], cwd=cwd, env=self.env)


def clean_env(venv: Path, data_home: Path) -> dict[str, str]:
    """The user's environment minus anything that could reach the checkout or a helm of this machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "INVOKE_", "VIRTUAL_ENV", "CONDA_"))}
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "helm").exists()]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env["VIRTUAL_ENV"] = str(venv)
    env["XDG_DATA_HOME"] = str(data_home)  # where install_helm puts helm and where settings look for it
    return env


@pytest.fixture(scope="session")
def venv(wheel, tmp_path_factory) -> Venv:
    work = tmp_path_factory.mktemp("venv")
    root = work / "venv"
    # no --system-site-packages; no pip in it either (ensurepip is slow): this pip installs into it
    created = run([sys.executable, "-m", "venv", "--without-pip", root], cwd=work)
    assert created.returncode == 0, created.stderr
    env = clean_env(root, work / "data")
    # the wheel and its dependencies from the package index (pip's cache, ~/.cache/pip, keeps reruns fast)
    installed = run([sys.executable, "-m", "pip", "--python", root / "bin" / "python", "install", "--quiet", wheel],
                    cwd=work, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    helm = run([root / "bin" / "python", "-m", "tars_tasks.install_helm"], cwd=work, env=env)  # as the pipelines do
    return Venv(root, env, helm)


@pytest.fixture(scope="session")
def built_images(docker_client):
    """The images this session's dry runs build under REGISTRY, removed at the end."""
    yield REGISTRY
    for image in docker_client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{REGISTRY}/"):
                docker_client.images.remove(tag, force=True)


@pytest.fixture
def mono(tmp_path) -> Path:
    """A user's monorepo, outside the checkout: the sample services, a two-line tasks.py, an invoke.yaml."""
    root = tmp_path / "mono"
    shutil.copytree(REPO_ROOT / "services", root / "services",
                    ignore=lambda folder, names: [n for n in names if n in ("HelloServer", "OrderServer.jar")
                                                  and Path(folder).name in ("HelloServer", "OrderServer")])
    (root / "tasks.py").write_text(TASKS_PY)
    shutil.copytree(REPO_ROOT / "environments", root / "environments")
    (root / "invoke.yaml").write_text(f"tars:\n  services_dir: services\n  registry: {REGISTRY}\n"
                                      "  namespace: tars\n  jobs: \"4\"\n" + sample_environments())
    assert not root.resolve().is_relative_to(REPO_ROOT)
    return root


def test_wheel_holds_every_file_of_the_package(wheel):
    """Modules, Dockerfile templates, and the top-level chart and schemas mapped into the package: byte for
    byte what the checkout has, with no second copy of the chart or schemas in git."""
    src = wheel.parents[1] / "src"  # the checkout as the wheel was built from it
    expected = {f"tars_tasks/{rel}": entry.read_bytes() for rel, entry in assets.walk(src / "tars_tasks")}
    for top in ("helm-template", "schema", "ci"):
        expected.update({f"tars_tasks/_bundled/{top}/{rel}": entry.read_bytes() for rel, entry in assets.walk(src / top)})
    with zipfile.ZipFile(wheel) as zf:
        shipped = {name: zf.read(name) for name in zf.namelist() if name.startswith("tars_tasks/")}
    assert sorted(shipped) == sorted(expected)
    assert shipped == expected
    for asset in ("tars_tasks/_bundled/helm-template/.helmignore", "tars_tasks/_bundled/helm-template/templates/tserver.yaml",
                  "tars_tasks/_bundled/schema/values.schema.json", "tars_tasks/_bundled/schema/crds/README.md",
                  "tars_tasks/_bundled/schema/crds/tserver.v1beta3.schema.json",
                  "tars_tasks/_bundled/ci/gitlab-ci.yml", "tars_tasks/_bundled/ci/github-actions.yml",
                  "tars_tasks/image/dockerfiles/cpp.Dockerfile.j2", "tars_tasks/py.typed"):
        assert asset in shipped


def test_venv_runs_the_installed_wheel_not_the_checkout(venv, tmp_path):
    probe = ("import json, tars_tasks\nfrom tars_tasks.core import assets\n"
             "from tars_tasks.chart.package import load_template\n"
             "print(json.dumps({'module': tars_tasks.__file__, 'chart': str(assets.chart_dir()),"
             " 'crds': str(assets.crds_dir()), 'digest': load_template().digest}))")
    result = venv.python("-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    site = venv.site_packages
    assert Path(found["module"]) == site / "tars_tasks" / "__init__.py"
    assert Path(found["chart"]) == site / "tars_tasks" / "_bundled" / "helm-template"
    assert Path(found["crds"]) == site / "tars_tasks" / "_bundled" / "schema" / "crds"
    # the installed chart is the checkout's chart: same digest, so the same chart versions are released
    from tars_tasks.chart.package import load_template

    assert found["digest"] == load_template().digest


def test_shipped_helm_installer_puts_helm_where_the_tool_finds_it(venv, tmp_path):
    dest = Path(venv.env["XDG_DATA_HOME"]) / "tars-tasks" / "bin" / "helm"
    assert venv.helm_install.returncode == 0, venv.helm_install.stderr
    assert venv.helm_install.stderr == f"helm: installed v4.1.4 at {dest} (sha256 verified)\n"
    assert shutil.which("helm", path=venv.env["PATH"]) is None
    version = run([dest, "version", "--short"], cwd=tmp_path)
    assert version.stdout.startswith("v4.1.4+")
    again = venv.python("-m", "tars_tasks.install_helm", cwd=tmp_path)
    assert (again.returncode, again.stderr) == (0, f"helm: v4.1.4 already at {dest}\n")


def test_list_validate_and_template_in_a_monorepo(venv, mono):
    listed = venv.invoke("list", "--json", cwd=mono)
    assert listed.returncode == 0, listed.stderr
    assert [row["id"] for row in json.loads(listed.stdout)] == SAMPLE_IDS

    table = venv.invoke("list", cwd=mono)
    assert table.returncode == 0, table.stderr
    assert [line.split()[0] for line in table.stdout.splitlines()[1:]] == SAMPLE_IDS

    validated = venv.invoke("validate", cwd=mono)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stderr == "ok: 7 service(s) valid\n"

    rendered = venv.invoke("template", "--service", "Base.HelloServer", cwd=mono)
    assert rendered.returncode == 0, rendered.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout) if d}
    assert sorted(docs) == ["TImage", "TServer"]
    tserver = docs["TServer"]
    assert tserver["apiVersion"] == "k8s.tars.io/v1beta3"
    assert tserver["metadata"]["name"] == "base-helloserver"
    assert tserver["spec"]["tars"]["servants"][0]["name"] == "HelloObj"
    assert docs["TImage"]["releases"][0]["image"].startswith(f"{REGISTRY}/base/helloserver:")


def test_release_all_dry_run_builds_every_image_locally(venv, mono, built_images, docker_client):
    result = venv.invoke("release", "--all", "--dry-run", "--json", cwd=mono)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert (report["ok"], report["dryRun"], report["counts"]) == (True, True, {"dry-run": 7})
    services = {s["id"]: s for s in report["services"]}
    assert sorted(services) == SAMPLE_IDS
    for sid, service in services.items():
        app, server = sid.lower().split(".")
        assert service["status"] == "dry-run"
        assert service["image"].startswith(f"{REGISTRY}/{app}/{server}:")
        assert service["build"]["status"] == "built"
        assert Path(service["chart"]).is_file()
        assert docker_client.images.get(service["image"]).labels["io.tars-tasks.service"] == sid


def test_custom_chart_setting_and_crd_check_work_from_the_installed_package(venv, mono):
    """tars.chart_dir: a copy of the shipped chart whose TServer breaks the CRD; validate says where."""
    shutil.copytree(venv.site_packages / "tars_tasks" / "_bundled" / "helm-template", mono / "chart")
    template = mono / "chart" / "templates" / "tserver.yaml"
    text = template.read_text()
    assert "    replicas: {{ $replicas }}\n" in text
    template.write_text(text.replace("    replicas: {{ $replicas }}\n", "    replicas: {{ $replicas | quote }}\n"))
    with (mono / "invoke.yaml").open("a") as fh:
        fh.write("  chart_dir: chart\n")

    result = venv.invoke("validate", "--service", "Base.HelloServer", "--service", "Shop.CartServer", cwd=mono)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "services/Base/HelloServer/values.yaml:1:1: rendered TServer/base-helloserver: "
        "spec.k8s.replicas: '1' is not of type 'integer'",
        "services/Shop/CartServer/values.yaml:1:1: rendered TServer/shop-cartserver: "
        "spec.k8s.replicas: '3' is not of type 'integer'",
    ]
    assert result.stderr == "2 error(s) in 2 file(s)\n"


def test_init_from_the_installed_package_writes_its_bundled_files_and_validates(venv, tmp_path):
    """`python -m tars_tasks init` with no checkout around: the chart, schemas and CI file come from the wheel."""
    root = tmp_path / "new"
    made = venv.python("-m", "tars_tasks", "init", root, "--ci", "github", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    bundled = venv.site_packages / "tars_tasks" / "_bundled"
    copies = {f"{top}/{rel}": entry for top in ("helm-template", "schema") for rel, entry in assets.walk(bundled / top)}
    copies[".github/workflows/tars-tasks.yml"] = bundled / "ci" / "github-actions.yml"
    for rel, entry in copies.items():
        assert (root / rel).read_bytes() == entry.read_bytes(), rel
    assert len(made.stdout.splitlines()) == len(copies) + 7  # tasks.py, invoke.yaml, .gitignore, 4 example files
    validated = venv.invoke("validate", cwd=root)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stderr == "ok: 1 service(s) valid\n"
