"""Release order across Experiments (``spec.after``): whether a run may start now. Pure: objects are
the raw dicts the API server returns (None: no such Experiment).

- A run of an Experiment (a new generation) starts only when every Experiment its ``spec.after``
  names exists and its latest run, for its current generation, has Succeeded with the mesh holding
  its end (promoted, or completed for a mirror or chaos-only run) (``Start``).
- One whose latest run for its current generation ended RolledBack, Aborted or Inconclusive: the
  start is refused (``Failed``) until it gets a new run that succeeds.
- One that does not exist (yet: it may come with the same GitOps commit), is being deleted, has not
  started a run for its current generation, or whose run is under way: wait (``Wait``).
- A cycle (A after B, B after A, or longer) can never start: ``Cycle``, naming it. Only Experiments
  that still wait to start count as links: one whose current generation has a run (under way or
  ended) no longer waits for anything, whatever its ``after`` says.
- ``after`` only gates the start: nothing here stops a run under way, and a dependency's new
  generation after this run started does not matter (the caller asks only before a start).

The order of precedence, when several apply: Cycle, then Failed, then Wait.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from rollout.kube.objects import Key

WAITING = "Waiting"  # the reasons of the Ready condition and of the Events
DEPENDENCY_FAILED = "DependencyFailed"
DEPENDENCY_CYCLE = "DependencyCycle"
FAILED_PHASES = frozenset({"RolledBack", "Aborted", "Inconclusive"})
MAX_REASON = 160  # of a dependency's own reason, in a message

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Start:
    """Every dependency has succeeded (or there is none): the run may start."""


@dataclass(frozen=True)
class Wait:
    """Some dependencies have not succeeded yet; ``states``: one line each (``ns/name: what it is at``)."""

    states: tuple[str, ...]

    @property
    def message(self) -> str:
        return (
            f"waiting for {'; '.join(self.states)}. The run starts when each has succeeded (promoted or completed) "
            "for its current spec (spec.after)"
        )


@dataclass(frozen=True)
class Failed:
    """Some dependencies' latest runs ended without succeeding; ``states``: one line each."""

    states: tuple[str, ...]

    @property
    def message(self) -> str:
        return (
            f"not starting: {'; '.join(self.states)}. The run starts if a new run of each succeeds (change its spec), "
            "or remove it from spec.after"
        )


@dataclass(frozen=True)
class Cycle:
    """The Experiments of ``cycle`` each run after the next (the last after the first): none can start."""

    cycle: tuple[Key, ...]
    mine: bool  # this Experiment is in the cycle (else it runs after one that is)

    @property
    def message(self) -> str:
        ring = " -> ".join(str(key) for key in (*self.cycle, self.cycle[0]))
        where = "" if self.mine else " (this Experiment waits for it through spec.after)"
        return (
            f"dependency cycle: {ring} (each runs after the next, spec.after){where}: none of them can start; "
            "remove one of these entries"
        )


Decision = Start | Wait | Failed | Cycle


def after_of(obj: Obj) -> tuple[Key, ...]:
    """The Experiments ``obj``'s current spec names in ``spec.after`` (read raw: anything unreadable is skipped)."""
    metadata = obj.get("metadata") or {}
    own = str(metadata.get("namespace") or "default")
    spec = obj.get("spec")
    entries = spec.get("after") if isinstance(spec, Mapping) else None
    keys: list[Key] = []
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) and entry["name"]:
            key = Key(str(entry.get("namespace") or own), entry["name"])
            if key not in keys:
                keys.append(key)
    return tuple(keys)


def waits_to_start(obj: Obj | None) -> bool:
    """Whether ``obj``'s current generation has no run yet (its ``after``, if any, still gates it)."""
    if obj is None:
        return False
    status = obj.get("status")
    status = status if isinstance(status, Mapping) else {}
    generation = _int((obj.get("metadata") or {}).get("generation")) or 1
    return not _int(status.get("run")) or _int(status.get("runGeneration")) < generation


def to_read(me: Key, objects: Mapping[Key, Obj | None]) -> set[Key]:
    """The Experiments ``decide`` needs and ``objects`` does not hold yet: those named by ``me`` and, for the
    cycle check, by each named one that still waits to start (read them, None for those missing, and ask again)."""
    wanted: set[Key] = set()
    for key in _reachable(me, objects):
        if key not in objects:
            wanted.add(key)
    return wanted


def decide(me: Key, objects: Mapping[Key, Obj | None], scopes: Collection[str] = ()) -> Decision:
    """Whether ``me`` (in ``objects``) may start its run, with ``objects`` holding what ``to_read`` asked for.

    ``scopes``: the namespaces the controller watches (empty: all); one named outside them is never read."""
    mine = objects.get(me)
    if mine is None:
        return Start()
    cycle = _cycle(me, objects)
    if cycle is not None:
        return cycle
    waiting: list[str] = []
    failed: list[str] = []
    for key in after_of(mine):
        if scopes and key.namespace not in scopes:
            waiting.append(f"{key}: is in a namespace this controller does not watch (--namespace)")
            continue
        state, bad = _state(key, objects.get(key))
        if state is None:
            continue
        (failed if bad else waiting).append(f"{key}: {state}")
    if failed:
        return Failed(tuple(failed))
    if waiting:
        return Wait(tuple(waiting))
    return Start()


def _state(key: Key, obj: Obj | None) -> tuple[str | None, bool]:
    """What ``key`` is at, in words (None: it has succeeded), and whether it failed."""
    if obj is None:
        return "does not exist (yet)", False
    metadata = obj.get("metadata") or {}
    if metadata.get("deletionTimestamp"):
        return "is being deleted", False
    status = obj.get("status")
    status = status if isinstance(status, Mapping) else {}
    generation = _int(metadata.get("generation")) or 1
    run = _int(status.get("run"))
    if waits_to_start(obj):
        ready = _ready(status)
        why = f" ({ready.get('reason')})" if ready.get("status") == "False" and ready.get("reason") else ""
        if not run:
            return f"no run yet{why}", False
        return f"generation {generation} has not started a run yet{why}", False
    phase = str(status.get("phase") or "Pending")
    traffic = status.get("traffic")
    weight = _int(traffic.get("canaryWeight")) if isinstance(traffic, Mapping) else 0
    if phase == "Succeeded" and status.get("trafficApplied") is True:
        return None, False
    if phase in FAILED_PHASES:
        reason = " ".join(str(status.get("reason") or "").split())
        if len(reason) > MAX_REASON:
            reason = reason[: MAX_REASON - 3] + "..."
        return f"run {run} {phase}" + (f": {reason}" if reason else ""), True
    return f"run {run} {phase} at {weight}%", False


def progress(obj: Obj | None) -> tuple[object, ...]:
    """What of ``obj`` the Experiments that name it in ``spec.after`` read (a change wakes them)."""
    if obj is None:
        return ()
    metadata = obj.get("metadata") or {}
    status = obj.get("status")
    status = status if isinstance(status, Mapping) else {}
    traffic = status.get("traffic")
    weight = traffic.get("canaryWeight") if isinstance(traffic, Mapping) else None
    fields = ("run", "runGeneration", "phase", "trafficApplied")  # a failed run's reason comes with its phase
    return (
        bool(metadata.get("deletionTimestamp")),
        metadata.get("generation"),
        *(status.get(name) for name in fields),
        weight,
        after_of(obj),
        _ready(status).get("reason"),
    )


def _ready(status: Obj) -> Obj:
    found = (c for c in status.get("conditions") or () if isinstance(c, Mapping) and c.get("type") == "Ready")
    return next(found, {})


def _links(key: Key, objects: Mapping[Key, Obj | None], me: Key) -> tuple[Key, ...]:
    """The Experiments ``key`` waits for: its ``after`` while it waits to start (``me``'s always)."""
    obj = objects.get(key)
    if obj is None or (key != me and not waits_to_start(obj)):
        return ()
    return after_of(obj)


def _reachable(me: Key, objects: Mapping[Key, Obj | None]) -> list[Key]:
    seen: list[Key] = []
    stack = [me]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.append(key)
        if key in objects:
            stack.extend(reversed(_links(key, objects, me)))
    return seen[1:]


def _cycle(me: Key, objects: Mapping[Key, Obj | None]) -> Cycle | None:
    """The first cycle reachable from ``me`` through Experiments that wait to start (depth first, in order)."""
    path: list[Key] = []
    done: set[Key] = set()

    def visit(key: Key) -> Cycle | None:
        if key in path:
            ring = tuple(path[path.index(key) :])
            return Cycle(_rotated(ring, me), me in ring)
        if key in done:
            return None
        path.append(key)
        for nxt in _links(key, objects, me):
            found = visit(nxt)
            if found is not None:
                return found
        path.pop()
        done.add(key)
        return None

    return visit(me)


def _rotated(ring: tuple[Key, ...], me: Key) -> tuple[Key, ...]:
    """``ring`` starting at ``me`` when it is in it (each Experiment names the cycle from itself)."""
    if me in ring:
        at = ring.index(me)
        return ring[at:] + ring[:at]
    return ring


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
