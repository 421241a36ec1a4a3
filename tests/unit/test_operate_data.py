"""operate/ as plain functions over data: masking, helm records, the rollback revision."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from tars_tasks.core.errors import UsageError
from tars_tasks.operate.history import Revision, pick_revision
from tars_tasks.operate.mask import mask_object
from tars_tasks.operate.records import decode, latest


def test_secret_data_secret_keys_and_config_lines_are_masked():
    secret = {"kind": "Secret", "data": {"pw": "aHVudGVyMg=="}, "stringData": {"token": "t"}}
    assert mask_object(secret) == {"kind": "Secret", "data": {"pw": "***"}, "stringData": {"token": "***"}}
    env = {"kind": "TServer", "spec": {"env": [{"name": "DB_PASSWORD", "value": "x"}], "apiToken": "abc",
                                       "secretKeyRef": {"name": "db", "key": "pw"}}}
    assert mask_object(env)["spec"] == {"env": [{"name": "DB_PASSWORD", "value": "***"}], "apiToken": "***",
                                        "secretKeyRef": {"name": "db", "key": "pw"}}
    config = {"kind": "TConfig", "configContent": "<db>\n  host = a\n  db_password = hunter2\n  token: abc\n</db>\n"}
    assert mask_object(config)["configContent"] == "<db>\n  host = a\n  db_password = ***\n  token: ***\n</db>\n"


def _secret(name: str, version: int, status: str = "deployed", **labels: str) -> dict:
    rel = {"name": name, "version": version, "info": {"status": status}, "manifest": "kind: TServer\n",
           "hooks": [{"manifest": "kind: TConfig\n"}], "config": {"repo": {"id": "v9"}},
           "chart": {"metadata": {"name": name, "version": "1.0.0"}, "values": {"repo": {"id": "v1", "image": "i"}}}}
    packed = base64.b64encode(gzip.compress(json.dumps(rel).encode())).decode()
    return {"metadata": {"labels": {"owner": "helm", "name": name, "version": str(version), **labels}},
            "data": {"release": base64.b64encode(packed.encode()).decode()}}


def test_helm_records_are_decoded_and_the_newest_kept():
    record = decode(_secret("a", 1, **{"tars-tasks.io/managed": "true"}))
    assert record is not None
    assert (record.name, record.revision, record.status, record.chart) == ("a", 1, "deployed", "a-1.0.0")
    assert record.values == {"repo": {"id": "v9", "image": "i"}}  # user values over the chart's
    assert record.manifest == "kind: TServer\n\n---\nkind: TConfig\n"
    assert record.labels["tars-tasks.io/managed"] == "true"
    assert {n: r.revision for n, r in latest([_secret("a", 1), _secret("a", 3), _secret("b", 2)]).items()} == \
        {"a": 3, "b": 2}
    assert decode({"data": {"release": "not base64!"}}) is None


def _revs(*statuses: str) -> list[Revision]:
    return [Revision(i + 1, "", s, "c", "t", "") for i, s in enumerate(statuses)]


def test_rollback_goes_to_the_previous_revision_that_ran_or_the_one_asked():
    assert pick_revision(_revs("superseded", "failed rollout", "deployed"), None) == 1
    assert pick_revision(_revs("superseded", "superseded", "deployed"), 1) == 1
    with pytest.raises(UsageError, match="--to 3 is the current revision"):
        pick_revision(_revs("superseded", "superseded", "deployed"), 3)
    with pytest.raises(UsageError, match="no earlier revision that ran"):
        pick_revision(_revs("failed", "deployed"), None)
