"""Leader election with a coordination.k8s.io/v1 Lease, so that two replicas never both act.

The rules (as client-go's, with times measured on this replica's monotonic clock only, never by
comparing clocks across machines):

- The holder renews every ``retry_period``. It may act only while its last successful renewal,
  counted from when the request was *sent*, is younger than ``renew_deadline``
  (``is_leader()``); it stops acting at once when that passes, renewed or not.
- Another replica takes the Lease only when it has seen the Lease record unchanged for a whole
  ``lease duration`` (the Lease's own ``leaseDurationSeconds``), or released (no holder). Every
  write is conditional on the ``resourceVersion`` read, so of two replicas racing for it one wins.
- Since ``renew_deadline < lease_duration``, the old holder has stopped acting before anyone else
  can start (assuming clocks that tick at about the same rate; client-go assumes the same).
- ``release()`` (on a clean shutdown, after the replica has stopped acting) clears the holder so
  that a standby takes over at its next retry rather than after a lease duration.

Verbs: ``leases`` get, create, update in the Lease's namespace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client as k8s

from rollout.kube.client import Conflict, KubeError, NotFound, call
from rollout.kube.events import micro_time

Obj = dict[str, Any]
log = logging.getLogger("meshroll.kube.lease")

GROUP, VERSION, PLURAL = "coordination.k8s.io", "v1", "leases"


@dataclass(frozen=True)
class LeaseTimings:
    duration: float = 15.0  # how long a Lease is valid after its last renewal, as others see it
    renew_deadline: float = 10.0  # the holder stops acting when it has not renewed for this long
    retry_period: float = 2.0  # how often to renew, or to try to acquire

    def __post_init__(self) -> None:
        if not self.duration > self.renew_deadline > self.retry_period > 0:
            raise ValueError(
                "lease timings must satisfy duration > renew deadline > retry period > 0, got "
                f"{self.duration:g} / {self.renew_deadline:g} / {self.retry_period:g} s"
            )


@dataclass(frozen=True)
class _Seen:
    """The Lease record as last read, and when (monotonic) it was first seen in that state."""

    holder: str
    renew_time: str
    transitions: int
    duration: float
    since: float


class LeaderElector:
    """Acquires and renews one Lease; ``is_leader()`` says whether this replica may act now."""

    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        timings: LeaseTimings | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        on_started: Callable[[], None] | None = None,
        on_stopped: Callable[[], None] | None = None,
    ) -> None:
        self._api = k8s.CustomObjectsApi(api)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timings = timings or LeaseTimings()
        self.monotonic = monotonic
        self.wall = wall
        self.on_started = on_started
        self.on_stopped = on_stopped
        self._renewed_at: float | None = None  # monotonic time the last successful renewal was sent
        self._seen: _Seen | None = None
        self._was_leader = False
        self._lock = threading.Lock()
        self.acquisitions = 0
        self._timeout = max(1.0, self.timings.renew_deadline - self.timings.retry_period)  # per API request

    # --- asking -----------------------------------------------------------------------------

    def is_leader(self) -> bool:
        renewed = self._renewed_at
        return renewed is not None and self.monotonic() - renewed < self.timings.renew_deadline

    def time_left(self) -> float:
        """Seconds of leadership left without a renewal (0 when not leader)."""
        renewed = self._renewed_at
        return 0.0 if renewed is None else max(0.0, renewed + self.timings.renew_deadline - self.monotonic())

    # --- one round ----------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One attempt; True when this replica holds the Lease afterwards. API errors count as a failed attempt."""
        with self._lock:
            sent = self.monotonic()
            try:
                won = self._attempt()
            except KubeError as exc:
                log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
                won = False
            if won:
                self._renewed_at = sent
            self._notify()
            return self.is_leader()

    def _attempt(self) -> bool:
        try:
            lease = self._get()
        except NotFound:
            return self._create()
        spec = lease.get("spec") or {}
        holder = str(spec.get("holderIdentity") or "")
        if holder == self.identity:
            return self._write(lease, acquired=False)
        seen = self._observe(spec)
        if holder and self.monotonic() - seen.since < seen.duration:
            return False  # held by someone else whose lease has not run out
        log.info("lease %s/%s: taking over from %r", self.namespace, self.name, holder or "(released)")
        return self._write(lease, acquired=True)

    def _observe(self, spec: Obj) -> _Seen:
        holder = str(spec.get("holderIdentity") or "")
        renew = str(spec.get("renewTime") or "")
        transitions = int(spec.get("leaseTransitions") or 0)
        duration = float(spec.get("leaseDurationSeconds") or self.timings.duration)
        seen = self._seen
        if seen is None or (seen.holder, seen.renew_time, seen.transitions) != (holder, renew, transitions):
            seen = _Seen(holder, renew, transitions, duration, self.monotonic())
            self._seen = seen
        return seen

    def _get(self) -> Obj:
        result = call(
            f"reading Lease {self.namespace}/{self.name}",
            lambda: self._api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, self.name, _request_timeout=self._timeout
            ),
        )
        return cast(Obj, result)

    def _spec(self, *, acquired: bool, transitions: int, acquire_time: str | None) -> Obj:
        now = micro_time(self.wall())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.timings.duration)),
            "acquireTime": now if acquired or acquire_time is None else acquire_time,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _create(self) -> bool:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(acquired=True, transitions=0, acquire_time=None),
        }
        try:
            call(
                f"creating Lease {self.namespace}/{self.name}",
                lambda: self._api.create_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, body, _request_timeout=self._timeout
                ),
            )
        except Conflict:
            return False  # another replica created it first
        self.acquisitions += 1
        return True

    def _write(self, lease: Obj, *, acquired: bool) -> bool:
        spec = lease.get("spec") or {}
        transitions = int(spec.get("leaseTransitions") or 0) + (1 if acquired else 0)
        body = {
            **lease,
            "spec": self._spec(acquired=acquired, transitions=transitions, acquire_time=spec.get("acquireTime")),
        }
        try:
            call(
                f"updating Lease {self.namespace}/{self.name}",
                lambda: self._api.replace_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURAL, self.name, body, _request_timeout=self._timeout
                ),
            )
        except Conflict:
            return False  # someone wrote in between: read it again next round
        if acquired:
            self.acquisitions += 1
        return True

    def _notify(self, *, releasing: bool = False) -> None:
        """Call on_started or on_stopped when leadership changed (``releasing``: a stop gives it up, and
        ``release`` says so, not "no longer the leader", which is a lost Lease's warning)."""
        leader = self.is_leader()
        if leader and not self._was_leader:
            self._was_leader = True
            log.info("lease %s/%s: %s is the leader", self.namespace, self.name, self.identity)
            if self.on_started is not None:
                self.on_started()
        elif not leader and self._was_leader:
            self._was_leader = False
            if not releasing:
                log.warning("lease %s/%s: %s is no longer the leader", self.namespace, self.name, self.identity)
            if self.on_stopped is not None:
                self.on_stopped()

    # --- the loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Acquire or renew every retry period until ``stop`` is set; also drop leadership on time."""
        while not stop.is_set():
            self.try_acquire_or_renew()
            wait = self.timings.retry_period
            if self.is_leader():
                wait = min(wait, self.time_left())
            stop.wait(max(0.05, wait))
        with self._lock:
            self._notify()

    def release(self) -> None:
        """Give the Lease up (call after this replica has stopped acting)."""
        with self._lock:
            was, leading = self._renewed_at is not None, self._was_leader
            self._renewed_at = None
            self._notify(releasing=was)
            if not was:
                return
            try:
                lease = self._get()
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") != self.identity:
                    if leading:  # taken over meanwhile: it had lost the Lease, not given it up
                        log.warning("lease %s/%s: %s is no longer the leader", self.namespace, self.name, self.identity)
                    return
                released = {
                    **spec,
                    "holderIdentity": None,
                    "leaseDurationSeconds": 1,
                    "renewTime": micro_time(self.wall()),
                }
                body = {**lease, "spec": released}
                call(
                    f"releasing Lease {self.namespace}/{self.name}",
                    lambda: self._api.replace_namespaced_custom_object(
                        GROUP, VERSION, self.namespace, PLURAL, self.name, body, _request_timeout=self._timeout
                    ),
                )
                log.info(
                    "lease %s/%s: %s stopped and released the Lease; a standby takes over at its next retry",
                    self.namespace,
                    self.name,
                    self.identity,
                )
            except KubeError as exc:
                log.warning(
                    "lease %s/%s: not released (%s); others take over when it expires", self.namespace, self.name, exc
                )
