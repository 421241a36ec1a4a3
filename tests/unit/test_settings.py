"""The tars: block of invoke.yaml."""
import pytest

from tars_tasks.errors import UsageError
from tars_tasks.settings import Settings


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
])
def test_bad_settings_are_usage_errors(data, message):
    with pytest.raises(UsageError, match=message):
        Settings.from_mapping(data)
