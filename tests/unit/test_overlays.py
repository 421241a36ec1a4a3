"""Per-environment overlays: the merge rules, and problems located in the file that supplied the value."""
import pytest

from support import Monorepo as Mono
from tars_tasks.core.overlays import merge_layers

ENVS = {"staging": {}, "prod": {"namespace": "tars-prod"}}


def merged(*layers):
    return merge_layers(list(layers))[0]


def test_maps_merge_key_by_key_and_scalars_replace():
    base = {"replicas": 1, "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    over = {"replicas": 3, "resources": {"requests": {"cpu": "1"}}}
    assert merged(base, over) == {"replicas": 3, "resources": {"requests": {"cpu": "1", "memory": "64Mi"}}}


@pytest.mark.parametrize("key", ["servants", "config", "appConfig", "nodeConfig", "mounts", "envVars"])
def test_named_lists_merge_by_name_and_append_new_items(key):
    base = {key: [{"name": "a", "x": 1, "y": 2}, {"name": "b", "x": 1}]}
    over = {key: [{"name": "b", "x": 9}, {"name": "c", "x": 3}]}
    assert merged(base, over) == {key: [{"name": "a", "x": 1, "y": 2}, {"name": "b", "x": 9}, {"name": "c", "x": 3}]}


def test_host_ports_merge_by_name_ref():
    base = {"hostPorts": [{"nameRef": "Obj", "port": 1000, "udp": False}]}
    over = {"hostPorts": [{"nameRef": "Obj", "port": 2000}, {"nameRef": "Other", "port": 3000}]}
    assert merged(base, over) == {"hostPorts": [{"nameRef": "Obj", "port": 2000, "udp": False},
                                                {"nameRef": "Other", "port": 3000}]}


def test_other_lists_replace():
    base = {"args": ["--a", "--b"], "dependsOn": ["X.Y"], "nodeSelector": [{"key": "a"}]}
    over = {"args": ["--c"], "nodeSelector": [{"key": "b"}]}
    assert merged(base, over) == {"args": ["--c"], "dependsOn": ["X.Y"], "nodeSelector": [{"key": "b"}]}


def test_null_removes_a_key_at_any_depth():
    base = {"replicas": 2, "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
            "envVars": [{"name": "A", "value": "1", "valueFrom": "x"}]}
    over = {"replicas": None, "resources": {"limits": None}, "envVars": [{"name": "A", "value": None}]}
    assert merged(base, over) == {"resources": {"requests": {"cpu": "1"}}, "envVars": [{"name": "A", "valueFrom": "x"}]}


def test_environment_file_first_then_service_overlay():
    base, env_wide, own = {"imagePullPolicy": "Always", "replicas": 1}, {"imagePullPolicy": "IfNotPresent",
                                                                      "replicas": 2}, {"replicas": 3}
    assert merged(base, env_wide, own) == {"imagePullPolicy": "IfNotPresent", "replicas": 3}


@pytest.fixture
def mono(tmp_path):
    m = Mono(tmp_path)
    m.service("A", "S", "servants:\n  - name: Obj\n    port: 10000\nreplicas: 1\n")
    return m


def test_service_overlay_is_merged_only_in_its_environment(mono):
    mono.write("services/A/S/values.prod.yaml", "replicas: 3\nservants:\n  - name: Obj\n    thread: 8\n")
    prod = mono.load(environments=ENVS, env="prod").by_id()["A.S"].values
    staging = mono.load(environments=ENVS, env="staging").by_id()["A.S"].values
    assert (prod["replicas"], prod["servants"]) == (3, [{"name": "Obj", "port": 10000, "thread": 8}])
    assert (staging["replicas"], staging["servants"]) == (1, [{"name": "Obj", "port": 10000}])


def test_problem_is_located_in_the_overlay_that_wrote_the_value(mono):
    mono.write("services/A/S/values.prod.yaml", "# prod\nreplicas: many\nservants:\n  - name: Obj\n    port: 70000\n")
    problems = [str(p) for p in mono.load(environments=ENVS, env="prod").problems]
    assert problems == ["services/A/S/values.prod.yaml:2:11: replicas: expected an integer, got string 'many'",
                        "services/A/S/values.prod.yaml:5:11: servants[0].port: 70000 is greater than 65535"]
    assert mono.load(environments=ENVS, env="staging").problems == []


def test_environment_wide_overlay_problem_is_located_in_it(mono):
    mono.write("environments/prod.yaml", "imagePullPolicy: Sometimes\n")
    problems = [str(p) for p in mono.load(environments=ENVS, env="prod").problems]
    assert problems == ["environments/prod.yaml:1:18: imagePullPolicy: 'Sometimes' is not one of "
                        "'Always', 'Never', 'IfNotPresent'"]


def test_a_base_value_stays_located_in_values_yaml(mono):
    mono.write("services/A/S/values.prod.yaml", "replicas: 3\n")
    mono.write("services/A/S/values.yaml", "app: A\nserver: S\ntemplate: tars.cpp\nservants:\n  - name: Obj\n"
                                          "    port: 70000\n")
    problems = [str(p) for p in mono.load(environments=ENVS, env="prod").problems]
    assert problems == ["services/A/S/values.yaml:6:11: servants[0].port: 70000 is greater than 65535"]


def test_overlays_of_unknown_environments_or_of_no_service_are_errors(mono):
    mono.write("services/A/S/values.qa.yaml", "replicas: 3\n")
    mono.write("services/A/Gone/values.prod.yaml", "replicas: 3\n")
    mono.write("environments/dev.yaml", "replicas: 3\n")
    problems = [str(p) for p in mono.load(environments=ENVS).problems]
    assert problems == [
        "environments/dev.yaml:1:1: overlay for unknown environment 'dev' (known: prod, staging)",
        "services/A/Gone/values.prod.yaml:1:1: overlay of no service: this folder has no values.yaml",
        "services/A/S/values.qa.yaml:1:1: overlay for unknown environment 'qa' (known: prod, staging)",
    ]


def test_an_overlay_cannot_change_identity_or_image(mono):
    mono.write("services/A/S/values.prod.yaml", "replicas: 3\nbuild:\n  type: go\n")
    problems = [str(p) for p in mono.load(environments=ENVS, env="prod").problems]
    assert problems == ["services/A/S/values.prod.yaml:2:1: build: cannot be set per environment "
                        "(a service's identity and image are shared)"]
