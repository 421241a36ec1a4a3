"""Canary declarations: steps to partitions, the flags, and located errors in values.yaml (deploy/canary.py)."""
from __future__ import annotations

import io

import pytest

from tars_tasks.core.errors import UsageError
from tars_tasks.deploy.canary import CanarySpec, plan_steps, run_check

F = "services/Shop/Cart/values.yaml"


def partitions(replicas: int, steps: list[int]) -> list[tuple[int, int, int]]:
    return [(s.percent, s.updated, s.partition) for s in plan_steps(replicas, steps)[0]]


def test_steps_become_partitions_with_at_least_one_pod_first():
    assert partitions(4, [25, 50, 100]) == [(25, 1, 3), (50, 2, 2), (100, 4, 0)]
    assert partitions(10, [5, 30, 100]) == [(5, 1, 9), (30, 3, 7), (100, 10, 0)]  # 5% of 10: one pod, not none
    assert partitions(3, [10, 50, 100]) == [(10, 1, 2), (50, 2, 1), (100, 3, 0)]  # ceil
    assert partitions(2, [25, 50, 100]) == [(25, 1, 1), (100, 2, 0)]  # 50% moves no pod more than 25%: left out


def test_one_replica_goes_straight_to_100_with_a_warning():
    steps, warning = plan_steps(1, [25, 50, 100])
    assert [(s.percent, s.updated, s.partition) for s in steps] == [(100, 1, 0)]
    assert warning == "1 replica(s): a canary needs at least 2 pods; going straight to 100%"


def test_flags():
    assert CanarySpec.from_flags("25,50,100", "1m30s") == CanarySpec((25, 50, 100), 90.0)
    assert CanarySpec.from_flags("100", None) == CanarySpec((100,), 0.0)
    assert CanarySpec.from_flags("50,100", "manual").manual
    for steps, pause, message in [
            ("25,x", None, "--canary: '25,x' must be percents separated by commas, such as 25,50,100"),
            ("50,25,100", None, "--canary: 25 must be greater than the step before it (50)"),
            ("25,50", None, "--canary: the last step must be 100 (all pods), not 50"),
            ("0,100", "soon", "--canary: 0 must be a whole percent from 1 to 100; "
                              "--canary-pause: 'soon' must be a duration such as 30s, 2m, 1m30s, or \"manual\"")]:
        with pytest.raises(UsageError) as caught:
            CanarySpec.from_flags(steps, pause)
        assert str(caught.value) == message


def test_declared_spec_and_command_line_override():
    declared = CanarySpec.from_values({"canary": {"steps": [10, 100], "pause": "2m", "check": ["sh", "c.sh"]}})
    assert declared == CanarySpec((10, 100), 120.0, ("sh", "c.sh"))
    assert declared.with_overrides(CanarySpec((50, 100), 5.0)) == CanarySpec((50, 100), 5.0, ("sh", "c.sh"))
    assert CanarySpec.from_values({"replicas": 2}) is None


@pytest.mark.parametrize("body, expected", [
    ("canary:\n  steps: [50, 25, 100]\n", [f"{F}:5:15: canary.steps[1]: 25 must be greater than the step before it (50)"]),
    ("canary:\n  steps: [25, 50]\n", [f"{F}:5:15: canary.steps[1]: the last step must be 100 (all pods), not 50"]),
    ("canary:\n  steps: [0, 100]\n", [f"{F}:5:11: canary.steps[0]: 0 is less than 1"]),
    ("canary:\n  steps: [100]\n  pause: soon\n",
     [f"{F}:6:10: canary.pause: 'soon' is invalid: expected a duration such as 30s, 2m, 1m30s, or manual"]),
    ("canary:\n  steps: [100]\n  check: sh c.sh\n",
     [f"{F}:6:10: canary.check: expected a list, got string 'sh c.sh'"]),
    ("canary:\n  pause: 1m\n", [f"{F}:5:3: canary: missing required key 'steps'"]),
])
def test_declaration_errors_are_located(repo, body, expected):
    repo.service("Shop", "Cart", body)
    assert repo.problems() == expected


def test_a_valid_declaration(repo):
    repo.service("Shop", "Cart", "replicas: 4\ncanary:\n  steps: [25, 50, 100]\n  pause: 2m\n  check: [sh, c.sh]\n")
    assert repo.problems() == []


def test_the_check_runs_without_a_shell_with_its_environment_and_its_output_logged(tmp_path):
    log = io.StringIO()
    result = run_check(["sh", "-c", 'echo "step $TARS_CANARY_STEP of $TARS_SERVER; $0"; exit 3', "a;b"],
                       {"TARS_CANARY_STEP": "2", "TARS_SERVER": "shop-cart"}, str(tmp_path), log, 5)
    assert (result.exit_code, result.ok, result.error) == (3, False, "step 2 of shop-cart; a;b")
    assert log.getvalue() == "check| step 2 of shop-cart; a;b\ncanary check exited 3\n"
    missing = run_check(["no-such-check-program"], {}, str(tmp_path), io.StringIO(), 5)
    assert missing.exit_code is None and "No such file" in missing.error
