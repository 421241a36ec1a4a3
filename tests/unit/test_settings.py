"""The tars: block of invoke.yaml."""
import pytest

from tars_tasks.core.errors import UsageError
from tars_tasks.core.settings import Settings


def test_defaults():
    s = Settings.from_mapping({})
    assert (s.registry, s.namespace, s.jobs, s.api_version) == ("127.0.0.1:5000", "tars", 4, "k8s.tars.io/v1beta3")
    assert s.base_images["cpp"].startswith("tarscloud/tars.cppbase")


def test_overrides_and_base_image_merge():
    s = Settings.from_mapping({"jobs": "8", "base_images": {"go": "local/go:1"}, "api_version": "k8s.tars.io/v1beta2"})
    assert s.jobs == 8 and s.base_images["go"] == "local/go:1" and "cpp" in s.base_images


@pytest.mark.parametrize("data,message", [
    ({"regsitry": "x"}, "unknown setting"),
    ({"jobs": "many"}, "tars.jobs: 'many' is not an integer"),
    ({"jobs": 0}, "tars.jobs: 0 must be at least 1"),
    ({"base_images": {"rust": "x"}}, "unknown server type"),
    ({"api_version": "v1"}, "tars.api_version"),
    ({"base_images": 3}, "tars.base_images: expected a mapping"),
    ({"registry": ["a", "b"]}, "tars.registry: expected a single value"),
])
def test_bad_settings_are_usage_errors(data, message):
    with pytest.raises(UsageError, match=message):
        Settings.from_mapping(data)


@pytest.mark.parametrize("text,message", [
    ("tars:\n  registry: [\n", "invoke.yaml:2:13: YAML syntax error: unclosed '[' (started here; the parser gave up at line 3)"),
    ("tars: 5\n", "invoke.yaml: tars: expected a mapping of settings, got int"),
    ("- a\n", "invoke.yaml:1:1: top level must be a mapping"),
])
def test_broken_invoke_yaml_is_located(tmp_path, text, message):
    from tars_tasks.core.settings import check_config_file

    (tmp_path / "invoke.yaml").write_text(text)
    assert check_config_file(tmp_path / "invoke.yaml").startswith(message)
    (tmp_path / "invoke.yaml").write_text("tars:\n  registry: r:1\n")
    assert check_config_file(tmp_path / "invoke.yaml") is None


@pytest.mark.parametrize("value,expected", [
    ("", ()), (None, ()),
    ("unix:///var/run/docker.sock", ("unix:///var/run/docker.sock",)),
    ("unix:///a.sock, tcp://10.0.0.5:2376 ,ssh://ci@builder", ("unix:///a.sock", "tcp://10.0.0.5:2376", "ssh://ci@builder")),
    (["tcp://b1:2376", "ssh://b2"], ("tcp://b1:2376", "ssh://b2")),
])
def test_builders_from_a_list_or_a_comma_separated_string(value, expected):
    assert Settings.from_mapping({"builders": value}).builders == expected


@pytest.mark.parametrize("data,message", [
    ({"builders": "unix:///a.sock,http://x:2375"}, r"tars.builders\[1\]: 'http://x:2375' is not an engine address"),
    ({"builders": ["tcp://"]}, r"tars.builders\[0\]: 'tcp://' is not an engine address"),
    ({"builders": ["unix://relative.sock"]}, r"tars.builders\[0\]: 'unix://relative.sock' is not an engine address"),
    ({"builders": ["ssh://a b"]}, r"tars.builders\[0\]: 'ssh://a b' is not an engine address"),
    ({"builders": "unix:///a.sock,,unix:///b.sock"}, r"tars.builders\[1\]: expected an engine address"),
    ({"builders": [3]}, r"tars.builders\[0\]: expected an engine address .*, got 3"),
    ({"builders": {"a": 1}}, "tars.builders: expected a list of engine addresses"),
    ({"builders": ["ssh://b", "ssh://b"]}, r"tars.builders\[1\]: 'ssh://b' is listed twice"),
    ({"builder": "kaniko"}, "tars.builder: 'kaniko' is not one of auto, buildkit, classic"),
    ({"builder_jobs": "-1"}, "tars.builder_jobs: '-1' must be at least 1"),
])
def test_bad_builders_are_usage_errors_naming_the_entry(data, message):
    with pytest.raises(UsageError, match=message):
        Settings.from_mapping(data)


@pytest.mark.parametrize("address", ["ssh://deploy:s3cr3t@127.0.0.1:1", "tcp://user:s3cr3t@b1:2376"])
def test_an_engine_address_with_a_password_is_refused_without_showing_it(address):
    with pytest.raises(UsageError) as caught:
        Settings.from_mapping({"builders": ["unix:///a.sock", address]})
    masked = address.replace("s3cr3t", "***")
    assert str(caught.value) == (f"tars.builders[1]: {masked!r}: an engine address must not hold a password "
                                 "(ssh://USER@HOST with an ssh key, or tcp:// with TLS certificates)")


def test_builder_defaults_and_per_engine_jobs():
    s = Settings.from_mapping({})
    assert (s.builders, s.builder, s.builder_jobs) == ((), "auto", 0)
    assert Settings.from_mapping({"builder": "classic", "builder_jobs": "3"}).builder_jobs == 3
