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
