"""Images: real builds on the docker engine, pushes to a real registry, fingerprints, and clear failures."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from support import (
    TEST_BASE_IMAGE,
    RegistryProcess,
    copy_samples,
    init_git,
    sample_envs,
    tool_image_events,
    tool_images,
)
from tars_tasks.core.settings import SERVER_TYPES, Settings
from tars_tasks.image.artifacts import resolve
from tars_tasks.image.images import (
    CACHE_TAG,
    LABEL_FINGERPRINT,
    LABEL_SERVICE,
    ImageBuilder,
    build_all,
    render_dockerfile,
)
from tars_tasks.image.registry import Registries
from tars_tasks.project import Project


def settings_for(root: Path, registry_host: str, **extra) -> Settings:
    return Settings.from_mapping({"root": str(root), "registry": registry_host, "environments": sample_envs(),
                                  "base_images": {t: TEST_BASE_IMAGE for t in SERVER_TYPES}, **extra})


def build(settings: Settings, ids=None, push=True, tag=None, environ=None):
    project = Project.load(settings)
    project.require_valid()
    services = project.select(ids or [])
    artifacts = resolve(settings, services, tag)
    builder = ImageBuilder(settings, registries=Registries(environ, home=settings.registry))
    results = build_all(builder, [artifacts[s.id] for s in services], push, jobs=3)
    return {r.service: r for r in results}, artifacts


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry of this module's own: its tests reason about which tags exist."""
    reg = RegistryProcess(tmp_path_factory.mktemp("images-registry"))
    yield reg
    reg.stop()


@pytest.fixture
def mono(tmp_path):
    root = copy_samples(tmp_path / "mono")
    init_git(root)
    return root


@pytest.fixture
def home(registry, namespace, test_base_image) -> str:
    """The `registry` setting of one test: its own namespace in this module's registry."""
    return f"{registry.host}/{namespace}"


@pytest.mark.docker
def test_build_push_every_sample_then_never_again(mono, registry, home, docker_client):
    settings = settings_for(mono, home)
    since0 = time.time()
    results, artifacts = build(settings)
    assert {r.status for r in results.values()} == {"pushed"}, {k: r.reason for k, r in results.items()}
    for sid, art in artifacts.items():
        repository = art.image.split("/", 1)[1]
        assert art.tag in registry.tags(repository), sid
    # each image was built (tagged) and pushed exactly once, labelled with its service; with BuildKit its
    # build cache tag was moved to it (tag, push; the local tag removed) and every build named where it ran
    assert tool_image_events(docker_client, since0, home + "/") == ["push"] * 14 + ["tag"] * 14
    main = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    assert all(r.engine == f"{main} (BuildKit)" for r in results.values())
    assert f"engine {main} (BuildKit)\n" in Path(results["Base.HelloServer"].log).read_text()
    for art in artifacts.values():
        assert registry.tags(art.image.split("/", 1)[1]) == sorted([art.tag, CACHE_TAG])
    assert tool_images(docker_client, home + "/") == sorted(a.ref for a in artifacts.values())
    assert {sid: docker_client.images.get(a.ref).labels[LABEL_SERVICE] for sid, a in artifacts.items()} == {
        sid: sid for sid in artifacts}
    # the image holds the program where the launcher expects it, and the server type
    hello = artifacts["Base.HelloServer"]
    out = docker_client.containers.run(hello.ref, ["ls", "/usr/local/server/bin"], remove=True).decode()
    assert out.split() == ["HelloServer"]
    env = docker_client.images.get(hello.ref).attrs["Config"]["Env"]
    assert "ServerType=cpp" in env
    cart = artifacts["Shop.CartServer"]
    out = docker_client.containers.run(cart.ref, ["ls", "-R", "/usr/local/server"], remove=True).decode()
    assert "index.js" in out and "money.js" in out

    # the same build again: nothing is built or pushed (asserted from the engine's events)
    time.sleep(1.1)
    since = time.time()
    again, _ = build(settings)
    assert {r.status for r in again.values()} == {"exists"}
    # also on a "fresh machine": local images deleted, the registry still says the tags exist
    for art in artifacts.values():
        docker_client.images.remove(art.ref, force=True)
    time.sleep(1.1)
    since2 = time.time()
    third, _ = build(settings)
    assert {r.status for r in third.values()} == {"exists"}
    assert tool_images(docker_client, home + "/") == []  # not pulled back either
    assert tool_image_events(docker_client, since2, home + "/") == []
    assert tool_image_events(docker_client, since, home + "/") == []  # (removals are named by image id)


@pytest.mark.docker
def test_one_byte_changes_only_that_service(mono, home):
    settings = settings_for(mono, home)
    first, before = build(settings, push=True)
    script = mono / "services/Base/AuthServer/AuthServer"
    script.write_bytes(script.read_bytes() + b"#")
    second, after = build(settings, push=True)
    changed = sorted(sid for sid in before if before[sid].tag != after[sid].tag)
    assert changed == ["Base.AuthServer"]
    assert {sid for sid, r in second.items() if r.status == "pushed"} == {"Base.AuthServer"}
    assert {r.status for sid, r in second.items() if sid != "Base.AuthServer"} == {"exists"}


def test_fingerprint_inputs_dockerignore_and_dependencies(mono):
    settings = settings_for(mono, "127.0.0.1:5000")
    tags = lambda: {k: a.tag for k, a in resolve(settings, Project.load(settings).services).items()}  # noqa: E731
    base = tags()
    # a service a dependency of others changes: the dependents' images do not
    (mono / "services/Base/HelloServer/main.c").write_text("/* changed */\nint main(void){return 0;}\n")
    t1 = tags()
    assert [k for k in base if base[k] != t1[k]] == ["Base.HelloServer"]
    # a file .dockerignore excludes does not count
    (mono / "services/Base/HelloServer/NOTES.md").write_text("notes\n")
    assert tags() == t1
    # a declared input changes: every service that declares it
    (mono / "services/libs/common/money.js").write_text("module.exports = {};\n")
    t2 = tags()
    assert sorted(k for k in t1 if t1[k] != t2[k]) == ["Shop.CartServer", "Shop.WebGateway"]
    # a different base image changes the fingerprint
    other = {**{t: TEST_BASE_IMAGE for t in SERVER_TYPES}, "go": "other/go:2"}
    t3 = {k: a.tag for k, a in resolve(settings_for(mono, "127.0.0.1:5000", base_images=other),
                                       Project.load(settings).services).items()}
    assert sorted(k for k in t2 if t2[k] != t3[k]) == ["Base.AuthServer", "Base.LogServer"]


@pytest.mark.docker
def test_explicit_tag_keeps_fingerprint_label(mono, registry, namespace, home, docker_client):
    settings = settings_for(mono, home)
    results, artifacts = build(settings, ["Base.AuthServer"], tag="Release_2024+1")
    art = artifacts["Base.AuthServer"]
    assert art.tag == "release-2024-1" and results["Base.AuthServer"].status == "pushed"
    assert docker_client.images.get(art.ref).labels[LABEL_FINGERPRINT] == art.fingerprint
    assert registry.tags(f"{namespace}/base/authserver") == [CACHE_TAG, "release-2024-1"]


@pytest.mark.docker
def test_no_push_builds_locally_once(mono, registry, namespace, home, docker_client):
    settings = settings_for(mono, home)
    (mono / "services/Base/LogServer/LogServer").write_text("#!/bin/sh\necho only-local\n")
    first, arts = build(settings, ["Base.LogServer"], push=False)
    assert first["Base.LogServer"].status == "built"
    assert registry.tags(f"{namespace}/base/logserver") == []
    assert tool_images(docker_client, home + "/") == [arts["Base.LogServer"].ref]
    second, _ = build(settings, ["Base.LogServer"], push=False)
    assert second["Base.LogServer"].status == "local"


@pytest.mark.docker
def test_failures_are_per_service_and_clear(mono, home):
    (mono / "services/Base/AuthServer/values.yaml").write_text(
        (mono / "services/Base/AuthServer/values.yaml").read_text().replace(
            "  files: [\"AuthServer\"]", "  files: [\"AuthServer\"]\n  command: [\"sh\", \"-c\", \"echo compiling; exit 3\"]"))
    (mono / "services/Base/LogServer/Dockerfile").write_text("FROM scratch\nNOTAN INSTRUCTION\n")
    (mono / "services/Base/LogServer/values.yaml").write_text(
        (mono / "services/Base/LogServer/values.yaml").read_text().replace("  type: go\n", "  type: go\n  dockerfile: Dockerfile\n"))
    settings = settings_for(mono, home, base_images={"php": "tars-tasks-test/missing:1"})
    results, _ = build(settings)
    assert results["Base.AuthServer"].status == "failed"
    assert results["Base.AuthServer"].reason == "build.command 'sh -c echo compiling; exit 3' failed (exit 3): compiling"
    assert results["Base.LogServer"].status == "failed"
    assert "docker" in results["Base.LogServer"].reason and "NOTAN" in results["Base.LogServer"].reason.upper()
    assert results["Shop.PayServer"].status == "failed"
    assert results["Shop.PayServer"].reason.startswith(
        "base image 'tars-tasks-test/missing:1' is not on this machine and cannot be pulled")
    ok = {sid for sid, r in results.items() if r.ok}
    assert ok == {"Base.HelloServer", "Shop.CartServer", "Shop.OrderServer", "Shop.WebGateway"}
    assert all(results[s].status == "pushed" for s in ok)
    log = Path(results["Base.AuthServer"].log).read_text()
    assert "compiling" in log and "FAILED" in log


def test_unreachable_registry(mono):
    from support import free_port

    settings = settings_for(mono, f"127.0.0.1:{free_port()}")
    results, _ = build(settings, ["Base.AuthServer"])
    r = results["Base.AuthServer"]
    assert r.status == "failed" and r.reason.startswith(f"registry {settings.registry} unreachable")


@pytest.mark.docker
def test_registry_with_password(mono, tmp_path, capfd, namespace, test_base_image):
    secret = "s3cr3t-Pa55"
    reg = RegistryProcess(tmp_path / "authreg", htpasswd=("ci", secret))
    try:
        settings = settings_for(mono, f"{reg.host}/{namespace}")
        no_creds, _ = build(settings, ["Base.AuthServer"], environ={"DOCKER_CONFIG": str(tmp_path / "none")})
        assert no_creds["Base.AuthServer"].status == "failed"
        assert "needs credentials" in no_creds["Base.AuthServer"].reason
        wrong, _ = build(settings, ["Base.AuthServer"], environ={"TARS_REGISTRY_USERNAME": "ci",
                                                                 "TARS_REGISTRY_PASSWORD": "wrong-" + secret})
        assert wrong["Base.AuthServer"].status == "failed" and "refused the credentials" in wrong["Base.AuthServer"].reason
        env = {"TARS_REGISTRY_USERNAME": "ci", "TARS_REGISTRY_PASSWORD": secret}
        ok, arts = build(settings, ["Base.AuthServer"], environ=env)
        assert ok["Base.AuthServer"].status == "pushed", ok["Base.AuthServer"].reason
        assert reg.tags(f"{namespace}/base/authserver", auth=("ci", secret)) == sorted([arts["Base.AuthServer"].tag,
                                                                                         CACHE_TAG])
        again, _ = build(settings, ["Base.AuthServer"], environ=env)
        assert again["Base.AuthServer"].status == "exists"
        for result in (no_creds, wrong, ok, again):
            r = result["Base.AuthServer"]
            assert secret not in r.reason and secret not in Path(r.log).read_text()
        out, err = capfd.readouterr()
        assert secret not in out and secret not in err
    finally:
        reg.stop()


def test_dockerfile_templates_render_for_every_type(mono):
    settings = settings_for(mono, "127.0.0.1:5000")
    project = Project.load(settings)
    art = resolve(settings, [project.by_id()["Shop.WebGateway"]])["Shop.WebGateway"]
    text = render_dockerfile(art)
    assert text.splitlines()[1:] == [f"FROM {TEST_BASE_IMAGE}", "ENV ServerType=nodejs",
                                     "ENV NODE_PATH=/usr/local/server/inputs", "COPY files/ /usr/local/server/bin/",
                                     "COPY inputs/ /usr/local/server/inputs/",
                                     f'LABEL "{LABEL_FINGERPRINT}"="{art.fingerprint}" "{LABEL_SERVICE}"="Shop.WebGateway"']


@pytest.mark.docker
def test_service_own_dockerfile_wins(mono, home, docker_client):
    folder = mono / "services/Base/AuthServer"
    (folder / "Dockerfile").write_text(f"FROM {TEST_BASE_IMAGE}\nCOPY AuthServer /opt/own/AuthServer\n"
                                       "ENV ServerType=go\n")
    values = folder / "values.yaml"
    values.write_text(values.read_text().replace("  type: go\n", "  type: go\n  dockerfile: Dockerfile\n"))
    results, arts = build(settings_for(mono, home), ["Base.AuthServer"])
    assert results["Base.AuthServer"].status == "pushed", results["Base.AuthServer"].reason
    out = docker_client.containers.run(arts["Base.AuthServer"].ref, ["ls", "/opt/own"], remove=True).decode()
    assert out.split() == ["AuthServer"]


def test_deploy_settings_in_values_yaml_do_not_change_the_image(mono):
    settings = settings_for(mono, "127.0.0.1:5000")
    before = resolve(settings, Project.load(settings).services)
    values = mono / "services/Shop/WebGateway/values.yaml"
    values.write_text(values.read_text().replace("replicas: 2", "replicas: 5"))
    after = resolve(settings, Project.load(settings).services)
    assert after["Shop.WebGateway"].tag == before["Shop.WebGateway"].tag
    values.write_text(values.read_text().replace("  type: nodejs\n", "  type: nodejs\n  args: {MODE: prod}\n"))
    assert resolve(settings, Project.load(settings).services)["Shop.WebGateway"].tag != before["Shop.WebGateway"].tag
