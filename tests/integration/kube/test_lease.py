"""Leader election on a real API server: one leader at a time, including across a frozen leader."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from rollout.kube.lease import LeaderElector, LeaseTimings
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.helpers import wait_for

pytestmark = pytest.mark.controlplane
TIMINGS = LeaseTimings(duration=2.0, renew_deadline=1.4, retry_period=0.3)


class Replica(threading.Thread):
    """An elector's loop that can be frozen (it neither renews nor runs while frozen)."""

    def __init__(self, elector: LeaderElector) -> None:
        super().__init__(daemon=True)
        self.elector = elector
        self.running = threading.Event()
        self.running.set()
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.running.wait()
            self.elector.try_acquire_or_renew()
            self.stop.wait(TIMINGS.retry_period)


def test_two_electors_are_never_both_leaders_even_when_the_leader_freezes(
    controlplane: ControlPlane, namespace: str
) -> None:
    a = Replica(LeaderElector(controlplane.api_client(), namespace, "meshroll", "a", TIMINGS))
    b = Replica(LeaderElector(controlplane.api_client(), namespace, "meshroll", "b", TIMINGS))
    a.start()
    wait_for(a.elector.is_leader, "a to lead", timeout=10)
    b.start()
    both: list[float] = []
    leaders: list[str] = []
    began = time.monotonic()

    def sample(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            now = (a.elector.is_leader(), b.elector.is_leader())
            if all(now):
                both.append(time.monotonic() - began)
            who = "a" if now[0] else "b" if now[1] else "-"
            if not leaders or leaders[-1] != who:
                leaders.append(who)
            time.sleep(0.005)

    try:
        sample(1.5)
        a.running.clear()  # a freezes: no renewals
        sample(TIMINGS.duration + 2.5)
        a.running.set()  # a wakes up
        sample(1.5)
    finally:
        a.stop.set()
        b.stop.set()
        a.running.set()

    assert both == []
    assert leaders[0] == "a" and leaders[-1] == "b" and "-" in leaders, leaders  # a stops before b starts
    lease = controlplane.request("GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/meshroll").body
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    assert lease["spec"]["leaseDurationSeconds"] == 2


def test_a_released_lease_is_taken_at_the_next_retry(controlplane: ControlPlane, namespace: str) -> None:
    timings = LeaseTimings(duration=30.0, renew_deadline=20.0, retry_period=0.3)
    a = LeaderElector(controlplane.api_client(), namespace, "meshroll", "a", timings)
    b = LeaderElector(controlplane.api_client(), namespace, "meshroll", "b", timings)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader()
    assert b.try_acquire_or_renew()  # no 30 s wait
    assert not a.try_acquire_or_renew()


def test_a_stop_that_releases_the_lease_says_so_and_warns_of_nothing(
    controlplane: ControlPlane, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A clean shutdown (SIGTERM) gives the Lease up: that is news, not a lost Lease's warning."""
    a = LeaderElector(controlplane.api_client(), namespace, "meshroll", "a", TIMINGS)
    assert a.try_acquire_or_renew()
    with caplog.at_level(logging.INFO, logger="meshroll.kube.lease"):
        a.release()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "meshroll.kube.lease"]
    assert said == [
        (
            "INFO",
            f"lease {namespace}/meshroll: a stopped and released the Lease; a standby takes over at its next retry",
        )
    ]


def test_lease_timings_must_nest() -> None:
    with pytest.raises(ValueError, match="duration > renew deadline > retry period"):
        LeaseTimings(duration=5, renew_deadline=5, retry_period=1)
