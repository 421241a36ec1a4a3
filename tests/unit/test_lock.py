"""The namespace's release lock (deploy/lock.py) against the fake cluster's Lease API."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from fakes.cluster import FakeCluster
from fakes.cluster.resources import by_kind
from tars_tasks.deploy.kube import Kube
from tars_tasks.deploy.lock import LEASE_NAME, LockHeld, ReleaseLock, identity

pytestmark = [pytest.mark.cluster]

NS = "shop"
T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.fixture
def cluster(tmp_path, monkeypatch):
    with FakeCluster() as fake:
        monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
        yield fake


def lease(cluster: FakeCluster) -> dict:
    return cluster.get("Lease", NS, LEASE_NAME)


def lock(who: str, clock: list[datetime], **kw) -> ReleaseLock:
    return ReleaseLock(Kube(), NS, duration=60, who=who, now=lambda: clock[0], **kw)


def test_the_first_run_takes_the_lease_in_a_new_namespace_and_gives_it_up(cluster):
    clock = [T0]
    first = lock("ci-1 pid 10 CI job 77", clock)
    with first:
        spec = lease(cluster)["spec"]
        assert spec["holderIdentity"] == "ci-1 pid 10 CI job 77"
        assert spec["leaseDurationSeconds"] == 60
        assert spec["acquireTime"] == spec["renewTime"] == "2030-01-02T03:04:05.000000Z"
    assert "holderIdentity" not in lease(cluster)["spec"]
    assert cluster.get("Namespace", "", NS) is not None


def test_a_second_run_fails_at_once_naming_the_holder(cluster):
    clock = [T0]
    with lock("ci-1 pid 10 CI job 77", clock):
        clock[0] = T0 + timedelta(seconds=12)
        with pytest.raises(LockHeld) as err:
            lock("laptop pid 20", clock).acquire()
    assert str(err.value) == (
        "namespace shop is being released by ci-1 pid 10 CI job 77 since 2030-01-02 03:04:05 UTC, renewed 12s ago: "
        "wait for it with --lock-timeout SECONDS; a run that died gives the lock up 60s after its last renewal "
        "(Lease shop/tars-tasks-release)")


def test_an_expired_lease_is_taken_over(cluster):
    clock = [T0]
    dead = lock("ci-1 pid 10", clock)
    dead.acquire()
    dead._stop.set()  # it died: nobody renews
    clock[0] = T0 + timedelta(seconds=61)
    with lock("ci-2 pid 30", clock):
        spec = lease(cluster)["spec"]
        assert spec["holderIdentity"] == "ci-2 pid 30"
        assert spec["acquireTime"] == "2030-01-02T03:05:06.000000Z"
        assert spec["leaseTransitions"] == 1
        dead.release()  # a late release by the run that lost the lease leaves the new holder's lease alone
        assert lease(cluster)["spec"]["holderIdentity"] == "ci-2 pid 30"
    assert "holderIdentity" not in lease(cluster)["spec"]


def test_a_waiting_run_takes_the_lease_when_the_holder_ends(cluster):
    clock = [T0]
    first = lock("ci-1 pid 10", clock)
    first.acquire()
    second = lock("ci-2 pid 30", clock, wait=30)
    taken = threading.Event()

    def take() -> None:
        second.acquire()
        taken.set()

    waiter = threading.Thread(target=take)
    waiter.start()
    cluster.wait_for(lambda: len([r for r in cluster.requests if r.method == "GET" and LEASE_NAME in r.path]) >= 3)
    assert not taken.is_set()
    first.release()
    waiter.join(timeout=30)
    assert lease(cluster)["spec"]["holderIdentity"] == "ci-2 pid 30"
    second.release()


def test_of_two_racing_runs_exactly_one_takes_the_lease(cluster):
    clock = [T0]
    runs = [lock(f"ci-{i} pid {i}", clock) for i in range(6)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(runs))

    def race(run: ReleaseLock) -> None:
        barrier.wait()
        try:
            run.acquire()
            outcomes.append("held")
        except LockHeld:
            outcomes.append("refused")

    threads = [threading.Thread(target=race, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["held"] + ["refused"] * 5
    for r in runs:
        r.release()


def test_identity_names_host_pid_and_ci_job(monkeypatch):
    import os
    import socket

    monkeypatch.delenv("CI_JOB_ID", raising=False)
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    assert identity() == f"{socket.gethostname()} pid {os.getpid()} CI job 4242"


def test_a_waiting_run_says_who_holds_the_lock_and_counts_down(cluster):
    clock = [T0]
    first = lock("ci-1 pid 10 CI job 77", clock)
    first.acquire()
    heard: list[str] = []
    with pytest.raises(LockHeld):
        lock("laptop pid 20", clock, wait=2.5, waiting=heard.append).acquire()
    first.release()
    assert len(heard) >= 2
    assert heard[0] == ("waiting for the release lock of namespace shop, held by ci-1 pid 10 CI job 77 since "
                        "2030-01-02 03:04:05 UTC, renewed 0s ago: 2s left")
    assert heard[-1].endswith(" 1s left") or heard[-1].endswith(" 0s left")


def test_a_lost_lease_says_whose_it_is_now_and_when(cluster):
    clock = [T0]
    lost: list[str] = []
    mine = ReleaseLock(Kube(), NS, duration=1, who="ci-1 pid 10", now=lambda: clock[0], on_lost=lost.append)
    mine.acquire()
    thief = {"holderIdentity": "ci-2 pid 30", "acquireTime": "2030-01-02T03:04:06.000000Z",
             "renewTime": "2030-01-02T03:04:06.000000Z", "leaseDurationSeconds": 60}
    clock[0] = T0 + timedelta(seconds=3)
    cluster.store.mutate(by_kind("Lease"), NS, LEASE_NAME, lambda live: live.update(spec=thief))
    cluster.wait_for(lambda: lost, timeout=5)
    mine.release()
    assert lost == [mine.lost] == [
        "the release lock (Lease shop/tars-tasks-release) was taken over by ci-2 pid 30 since 2030-01-02 03:04:06 UTC, "
        "renewed 2s ago; seen at 2030-01-02 03:04:08 UTC: nothing new was started"]
    assert lease(cluster)["spec"]["holderIdentity"] == "ci-2 pid 30"  # the new holder's lease is left alone
