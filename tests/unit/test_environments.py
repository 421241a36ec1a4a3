"""Environments: `tars.environments.<name>` over the base settings."""
import pytest

from tars_tasks.core.errors import UsageError
from tars_tasks.core.settings import Settings

ENVS = {"staging": {"namespace": "tars-staging"},
        "prod": {"namespace": "tars-prod", "jobs": "8", "registry": "reg.example.com/prod",
                 "base_images": {"go": "local/go:2"}}}


def test_no_env_is_the_base_settings():
    s = Settings.from_mapping({"namespace": "base", "environments": ENVS})
    assert (s.namespace, s.jobs, s.env, s.environments) == ("base", 4, "", ("prod", "staging"))


def test_env_overrides_any_setting_over_the_base_block():
    s = Settings.from_mapping({"namespace": "base", "jobs": "2", "environments": ENVS, "env": "prod",
                               "base_images": {"cpp": "local/cpp:1"}})
    assert (s.namespace, s.jobs, s.registry, s.env) == ("tars-prod", 8, "reg.example.com/prod", "prod")
    assert (s.base_images["go"], s.base_images["cpp"]) == ("local/go:2", "local/cpp:1")


@pytest.mark.parametrize("data,message", [
    ({"env": "qa", "environments": ENVS}, r"^unknown environment 'qa' \(known: prod, staging\)$"),
    ({"env": "qa"}, r"^unknown environment 'qa' \(known: none: define them under tars.environments in invoke.yaml\)$"),
    ({"environments": {"prod": {"regsitry": "x"}}, "env": "prod"}, "unknown setting"),
    ({"environments": {"prod": {"jobs": "0"}}, "env": "prod"}, r"tars.jobs: '0' must be at least 1"),
    ({"environments": {"Prod": {}}}, r"tars.environments: 'Prod' is not an environment name"),
    ({"environments": {"prod": {"root": "/"}}}, r"tars.environments.prod: root cannot be set per environment"),
    ({"environments": [1]}, r"tars.environments: expected a mapping"),
])
def test_bad_environments_are_usage_errors(data, message):
    with pytest.raises(UsageError, match=message):
        Settings.from_mapping(data)
