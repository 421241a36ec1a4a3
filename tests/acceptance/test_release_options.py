"""Flags that contradict each other are refused before any work (exit 2), with the flags named."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.helm]


@pytest.mark.parametrize("extra,named", [
    (["--service", "Base.HelloServer"], "--service"),
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


def test_a_saved_plan_runs_only_in_its_namespace(sample):
    """--namespace may be given with --plan, and must then be the plan's (issue 22 item 7: the namespace is bound
    like the environment); without it the run's namespace is tars.namespace."""
    assert sample("plan", "--dry-run", "--namespace", "staging", "--out", "p.json").returncode == 0
    for extra, run in (([], "tars"), (["--namespace", "other"], "other")):
        result = sample("release", "--plan", "p.json", "--dry-run", *extra)
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr.startswith(f"error: p.json: the plan was made for namespace staging, this run is for "
                                        f"namespace {run} (--namespace, else tars.namespace): make a new plan")
        assert not (sample.root / "dist" / "charts").exists()


def test_plan_namespace_flag_is_used(sample):
    result = sample("plan", "--dry-run", "--namespace", "staging", "--json")
    assert result.returncode == 0, result.stderr
    assert '"namespace": "staging"' in result.stdout
    assert "not deployed in namespace staging" in result.stdout


@pytest.mark.docker
def test_a_dry_run_checks_every_chart_in_one_batch_and_names_the_one_that_breaks_the_crd(sample):
    """The dry run renders, CRD-checks and lints the charts in batches (one helm template and one helm lint for
    the 7 samples); a chart that breaks the CRD fails its own service, its dependents are skipped."""
    import json
    import shutil

    from tars_tasks.core import assets

    shutil.copytree(assets.chart_dir(), sample.root / "chart")
    template = sample.root / "chart" / "templates" / "tserver.yaml"
    text = template.read_text()
    assert "    replicas: {{ $replicas }}\n" in text
    template.write_text(text.replace(  # Shop.CartServer is the only sample with 3 replicas
        "    replicas: {{ $replicas }}\n",
        "    replicas: {{ if eq (int $replicas) 3 }}{{ $replicas | quote }}{{ else }}{{ $replicas }}{{ end }}\n"))
    with (sample.root / "invoke.yaml").open("a") as fh:
        fh.write("  chart_dir: chart\n")
    result = sample("release", "--all", "--dry-run", "--json")
    assert result.returncode == 1, result.stderr
    status = {s["id"]: (s["status"], s["reason"]) for s in json.loads(result.stdout)["services"]}
    assert status["Shop.CartServer"] == (
        "failed", "chart: rendered manifests break the CRD: TServer/shop-cartserver: "
                  "spec.k8s.replicas: '3' is not of type 'integer'")
    assert {sid for sid, (st, _) in status.items() if st == "skipped"} == {"Shop.OrderServer", "Shop.WebGateway"}
    assert {sid for sid, (st, _) in status.items() if st == "dry-run"} == {
        "Base.AuthServer", "Base.HelloServer", "Base.LogServer", "Shop.PayServer"}
    assert "Traceback" not in result.stderr
