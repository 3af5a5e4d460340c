"""How many runs may be under way at once (``meshroll controller --max-concurrent-runs``), and which
Experiment starts next. Pure: objects are the raw dicts the API server returns; time is an argument.

- A run is *under way* from its first status write until it has ended and the mesh holds its end
  (``under_way``): a run resumed after a restart or a takeover counts, read from the stored status,
  so a new leader counts exactly what the old one left running.
- An Experiment that would start a run when the limit is reached waits *in line*. Its place is when
  it asked: the ``creationTimestamp`` of one that never ran; for a new generation of one whose run
  has ended, the time the controller first queued that generation (``status.queuedSince``,
  recorded with ``queuedGeneration``), else the moment of the check. Ties (creation times are to
  the second) go by namespace and name. Everything is read from the objects: the order holds
  across restarts and leaders.
- Others in line ahead of an Experiment: those whose ``Ready`` condition says ``Queued`` for
  their current generation, and those the controller has not looked at yet (no status at all) that
  would start. One refused for another reason (its route is in use, its mesh is missing...) holds no
  place until it comes back to the limit: a broken Experiment never stalls the line.
- ``decide``: with ``running`` other runs under way and ``ahead`` in line before it, an
  Experiment starts when ``ahead < limit - running``; otherwise it is queued. 0 means no limit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rollout.kube.objects import Key

QUEUED = "Queued"  # the reason of the Ready condition and of the Event
TERMINAL_PHASES = frozenset({"Succeeded", "RolledBack", "Aborted", "Inconclusive"})
HOW_TO_RAISE = "meshroll controller --max-concurrent-runs N; Helm value maxConcurrentRuns"
NAMED_HOLDERS = 3  # runs holding a slot that the Queued message names; the others are counted


@dataclass(frozen=True, order=True)
class Place:
    """A place in line: when the Experiment asked to start, then its name (for ties)."""

    asked: float
    namespace: str
    name: str

    @property
    def key(self) -> Key:
        return Key(self.namespace, self.name)


@dataclass(frozen=True)
class InLine:
    """Another Experiment waiting to start; ``checked``: its spec was found valid (else the caller checks it)."""

    place: Place
    checked: bool


@dataclass(frozen=True)
class Admit:
    """Start the run."""


@dataclass(frozen=True)
class Queue:
    """Wait: ``running`` runs are under way (those of ``holders``), the limit is ``limit``, ``ahead`` Experiments
    wait before this one."""

    running: int
    limit: int
    ahead: int
    holders: tuple[Key, ...] = ()  # the Experiments whose runs hold the slots, sorted

    @property
    def message(self) -> str:
        """What ``Ready`` says while it waits, naming (some of) the runs that hold the slots. It names no place
        in line: that changes at every run's end, and keeping it current would rewrite every queued
        Experiment's status each time. The holders named change when a run ends or starts; a queued
        Experiment's message follows when it is next reconciled (woken, or at a re-list), not at once."""
        runs = "1 run is" if self.running == 1 else f"{self.running} runs are"
        return (
            f"queued: {runs} under way and the limit is {self.limit} ({HOW_TO_RAISE}){_held_by(self.holders)}. It "
            "starts in turn, first come first served, when a run ends (promoted, rolled back, aborted or deleted); "
            "raise the limit to run more at once"
        )


def _held_by(holders: tuple[Key, ...]) -> str:
    """``; the slots are held by ns/a, ns/b, ns/c and 2 more`` (``NAMED_HOLDERS`` named at most), or nothing."""
    if not holders:
        return ""
    named = ", ".join(str(key) for key in holders[:NAMED_HOLDERS])
    more = len(holders) - NAMED_HOLDERS
    return f"; the slots are held by {named}" + (f" and {more} more" if more > 0 else "")


Decision = Admit | Queue


def decide(me: Place, running: Collection[Key], waiting: Iterable[Place], limit: int) -> Decision:
    """Whether ``me`` may start now, with ``running`` runs of other Experiments under way and ``waiting`` in line.

    ``limit`` 0 (or less): no limit. Only those of ``waiting`` before ``me`` count."""
    if limit <= 0:
        return Admit()
    others = {key for key in running if key != me.key}
    ahead = sum(1 for place in waiting if place < me and place.key != me.key and place.key not in others)
    if ahead < limit - len(others):
        return Admit()
    return Queue(len(others), limit, ahead, tuple(sorted(others, key=lambda key: (key.namespace, key.name))))


def under_way(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj``'s stored status holds a run that may still touch the mesh (it holds a slot).

    A deleted Experiment holds it until meshroll has reverted it and let it go (its finalizer)."""
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp") and "meshroll.io/revert" not in (metadata.get("finalizers") or ()):
        return False
    status = obj.get("status")
    if not isinstance(status, Mapping) or not _int(status.get("run")):
        return False
    return not (status.get("phase") in TERMINAL_PHASES and status.get("trafficApplied") is True)


def place_of(obj: Mapping[str, Any], now: float) -> Place:
    """The place in line of ``obj``, which is about to start a run: see the module's docstring."""
    metadata = obj.get("metadata") or {}
    asked = _recorded(obj)
    if asked is None:
        asked = _created(obj) if not _int((obj.get("status") or {}).get("run")) else None
    return Place(asked if asked is not None else now, str(metadata.get("namespace", "")), str(metadata.get("name", "")))


def in_line(obj: Mapping[str, Any]) -> InLine | None:
    """``obj``'s place in line when it waits to start (it does not hold a slot: check ``under_way`` first)."""
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return None
    namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
    status = obj.get("status")
    if not status:  # never looked at by the controller: it would start, if its spec is valid
        created = _created(obj)
        return InLine(Place(created, namespace, name), checked=False) if created is not None else None
    if not isinstance(status, Mapping) or not queued(status, _int(metadata.get("generation")) or 1):
        return None
    asked = _recorded(obj)
    if asked is None:
        asked = _created(obj) if not _int(status.get("run")) else None
    return InLine(Place(asked, namespace, name), checked=True) if asked is not None else None


def queued(status: Mapping[str, Any], generation: int) -> bool:
    """Whether a stored ``.status`` says it waits for a slot (``Ready`` False, reason Queued) at ``generation``."""
    ready = next((c for c in status.get("conditions") or () if isinstance(c, Mapping) and c.get("type") == "Ready"), {})
    return ready.get("reason") == QUEUED and _int(ready.get("observedGeneration")) == generation


def _recorded(obj: Mapping[str, Any]) -> float | None:
    """When the controller first queued ``obj``'s current generation (None: it has not)."""
    status = obj.get("status")
    if not isinstance(status, Mapping):
        return None
    generation = _int((obj.get("metadata") or {}).get("generation")) or 1
    if _int(status.get("queuedGeneration")) != generation:
        return None
    return parse_time(status.get("queuedSince"))


def _created(obj: Mapping[str, Any]) -> float | None:
    return parse_time((obj.get("metadata") or {}).get("creationTimestamp"))


def parse_time(value: object) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (metav1.Time or MicroTime); None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
