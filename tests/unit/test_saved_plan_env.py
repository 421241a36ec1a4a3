"""A saved plan belongs to the environment it was made for."""
from __future__ import annotations

import pytest

from tars_tasks import Options, UsageError, make_plan
from tars_tasks.core.files import FileLister
from tars_tasks.core.helm import Helm
from tars_tasks.deploy.release import load_saved_plan


class NoImages:
    def has(self, image: str, tag: str, fingerprint: str | None = None) -> bool:
        return False


def test_a_plan_for_one_environment_is_refused_in_another(repo, tmp_path):
    repo.service("Base", "A", "servants: [{name: AObj, port: 10000}]\n")
    envs = {"environments": {"staging": {"namespace": "tars-staging"}, "prod": {"namespace": "tars-prod"}}}
    staging = repo.load(env="staging", **envs)
    plan, _ = make_plan(staging, Options(dry_run=True), registries=NoImages())
    assert (plan.env, plan.namespace) == ("staging", "tars-staging")
    plan.save(tmp_path / "p.json")
    prod = repo.load(env="prod", **envs)
    with pytest.raises(UsageError) as refused:
        load_saved_plan(prod, Options(), tmp_path / "p.json", Helm("helm"), FileLister(repo.root))
    assert str(refused.value) == (f"{tmp_path / 'p.json'}: the plan was made for environment staging, this run is "
                                  "for environment prod (--env): make a new plan")
