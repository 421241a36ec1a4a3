"""Flags that contradict each other are refused before any work (exit 2), with the flags named."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.helm]


@pytest.mark.parametrize("extra,named", [
    (["--service", "Base.HelloServer"], "--service"),
    (["--namespace", "staging"], "--namespace"),
    (["--tag", "v1"], "--tag"),
    (["--since", "HEAD"], "--since"),
])
def test_a_saved_plan_refuses_flags_that_would_change_it(sample, extra, named):
    assert sample("plan", "--dry-run", "--out", "p.json").returncode == 0
    result = sample("release", "--plan", "p.json", "--dry-run", *extra)
    assert result.returncode == 2, result.stderr
    assert f"error: --plan runs exactly the saved plan: drop {named} (or make a new plan with them)" in result.stderr
    assert result.stdout == ""
    assert not (sample.root / "dist" / "charts").exists()


def test_plan_namespace_flag_is_used(sample):
    result = sample("plan", "--dry-run", "--namespace", "staging", "--json")
    assert result.returncode == 0, result.stderr
    assert '"namespace": "staging"' in result.stdout
    assert "not deployed in namespace staging" in result.stdout
