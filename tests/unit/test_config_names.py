"""TConfig version names (tars_tasks/chart/config_names.py): they change exactly with the content, and never
digest a secret's value without the key (issue: an unkeyed hash of content with a low-entropy secret was
guessable offline from a name shown in `diff` or a TConfig list)."""
from __future__ import annotations

import hashlib

from tars_tasks.chart.config_names import config_names, rendered
from tars_tasks.core.secrets import secret_digest

VALUES = {"app": "Shop", "server": "PayServer",
          "config": [{"name": "pay.conf", "content": "key = ${secret:PAY_KEY}\n"}],
          "nodeConfig": [{"name": "pay.conf", "podSeq": 1, "content": "leader = true\n"}],
          "appConfig": [{"name": "shop.conf", "content": "currency = EUR\n"}]}


def hashes(value: str, key: bytes = b"k1") -> dict[str, str]:
    return {"PAY_KEY": secret_digest({"PAY_KEY": value}, key)}


def test_one_name_per_entry_stable_and_changing_with_content():
    names = config_names(VALUES, hashes("1234"))
    assert set(names) == {"config|pay.conf|m", "node|pay.conf|1", "app|shop.conf|m"}
    assert names == config_names(VALUES, hashes("1234"))
    changed = {**VALUES, "appConfig": [{"name": "shop.conf", "content": "currency = USD\n"}]}
    other = config_names(changed, hashes("1234"))
    assert other["app|shop.conf|m"] != names["app|shop.conf|m"]
    assert other["config|pay.conf|m"] == names["config|pay.conf|m"]


def test_a_rotated_secret_is_a_new_version_of_only_the_configs_using_it():
    before, after = config_names(VALUES, hashes("1234")), config_names(VALUES, hashes("9999"))
    assert before["config|pay.conf|m"] != after["config|pay.conf|m"]
    assert before["node|pay.conf|1"] == after["node|pay.conf|1"]


def test_a_name_cannot_be_checked_against_a_guessed_secret_without_the_key():
    name = config_names(VALUES, hashes("1234"))["config|pay.conf|m"]
    for guess in ("1234", "0000"):  # the old scheme: sha256("config|pay.conf|m|" + content)[:12]
        unkeyed = hashlib.sha256(f"config|pay.conf|m|key = {guess}\n".encode()).hexdigest()[:12]
        assert unkeyed != name
    assert config_names(VALUES, hashes("1234", key=b"k2"))["config|pay.conf|m"] != name


def test_rendered_objects_carry_the_names():
    values = {**VALUES, "tarsTasks": {"configs": config_names(VALUES, hashes("1234"))}}
    objs = rendered(values, "shop-payserver", "tars")
    assert [(o["metadata"]["name"].rsplit("-", 1)[0], o["server"], o["podSeq"]) for o in objs] == [
        ("shop-payserver-c", "PayServer", "m"), ("shop-payserver-n", "PayServer", "1"), ("shop-payserver-a", "", "m")]
    assert all(o["activated"] and "updateReason" not in o for o in objs)
