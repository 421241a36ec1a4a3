"""`build --shard K/N`: a stable partition of the service ids, and K/N checked."""
from __future__ import annotations

import pytest

from tars_tasks.core.errors import UsageError
from tars_tasks.image.shard import parse_shard, shard_of

SAMPLES = ["Base.AuthServer", "Base.LogServer", "Base.HelloServer", "Shop.CartServer", "Shop.OrderServer",
           "Shop.PayServer", "Shop.WebGateway"]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8])
def test_every_service_is_in_exactly_one_shard(n):
    ids = [f"App{i % 37}.Server{i}" for i in range(2000)]
    shards = {k: {sid for sid in ids if shard_of(sid, n) == k} for k in range(1, n + 1)}
    assert sorted(sid for members in shards.values() for sid in members) == sorted(ids)  # all, none twice
    assert all(len(members) > 2000 / n * 0.8 for members in shards.values())  # and roughly even


def test_shards_are_the_same_in_every_run_and_do_not_depend_on_the_other_services():
    # fixed values: any CI job, on any machine and Python, computes the same split (sha256 of the id)
    assert {sid: shard_of(sid, 3) for sid in SAMPLES} == {
        "Base.AuthServer": 3, "Base.LogServer": 3, "Base.HelloServer": 1, "Shop.CartServer": 1,
        "Shop.OrderServer": 2, "Shop.PayServer": 2, "Shop.WebGateway": 1}
    more = [*SAMPLES, *(f"New.S{i}" for i in range(50))]
    assert {sid: shard_of(sid, 3) for sid in more if sid in SAMPLES} == {sid: shard_of(sid, 3) for sid in SAMPLES}


@pytest.mark.parametrize("text,expected", [("1/3", (1, 3)), ("3/3", (3, 3)), (" 2 / 4 ", (2, 4)), ("1/1", (1, 1))])
def test_shard_flag_reads_k_of_n(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text,message", [
    ("0/3", "'0/3': K must be between 1 and N"), ("4/3", "'4/3': K must be between 1 and N"),
    ("1/0", "'1/0': K must be between 1 and N"), ("3", "'3' is not K/N"), ("a/b", "'a/b' is not K/N"),
    ("", "'' is not K/N"), ("-1/3", "'-1/3' is not K/N")])
def test_bad_shard_is_a_usage_error(text, message):
    with pytest.raises(UsageError, match=f"^--shard: {message}"):
        parse_shard(text)
