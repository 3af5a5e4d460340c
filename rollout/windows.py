"""A run's observation windows, read from its status history. Pure.

A window runs from the observation before it (or the start of its step) to the moment it was
recorded, but never from before the moment the traffic split then in force was applied: the weights
a judgement moved take effect when the mesh write returns (an ``applied`` entry), and the requests
in between went by the old weights. The orchestrator starts each new window here; a restarted
controller rebuilds every past window here (``kube/evidence.py``), so both read one rule.

A step's own time runs from the same moment: the machine moves ``stepStartedAt`` to the ``applied``
entry that brought the step's new split (``split_in_force``), so a mesh write that was refused for a
minute and then taken starts a whole step, not one already due. ``next_observation_due`` reads it,
for ``meshroll run`` and the controller alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.events import Judged
from rollout.plan import RunPlan, judgement_due
from rollout.status import HistoryEntry, Status, Traffic

OBSERVATIONS = frozenset({"judged", "no-data", "metrics-unavailable"})


@dataclass(frozen=True)
class Span:
    """One past observation window and whether the engine judged data in it."""

    start: float
    end: float
    canary_weight: float
    judged: bool
    faults: tuple[str, ...] = ()  # the faults on (their ids), as the weight: in force when it was recorded


def observation_spans(history: Sequence[HistoryEntry]) -> list[Span]:
    """Every observation window of a run, in order."""
    return observation_windows(history)[0]


def next_window_start(history: Sequence[HistoryEntry]) -> float | None:
    """Where the next observation window starts: the last observation or the last split applied."""
    return observation_windows(history)[1]


def last_observation(history: Sequence[HistoryEntry]) -> float | None:
    spans = observation_spans(history)
    return spans[-1].end if spans else None


def split_in_force(history: Sequence[HistoryEntry]) -> tuple[int, bool, float]:
    """The traffic split the mesh last took (the last ``applied`` entry's); all stable before any."""
    return next((e.traffic.split for e in reversed(history) if e.event.type == "applied"), Traffic().split)


def next_observation_due(status: Status, plan: RunPlan) -> float:
    """When the next observation is due: a step interval after the last one or the step's start, whichever
    came later (the step starts when the mesh took its split), or at the run's deadline when that comes
    first (``plan.judgement_due``)."""
    last = last_observation(status.history)
    base = last if last is not None and last >= (status.step_started_at or 0.0) else status.step_started_at
    return judgement_due(plan, status, base if base is not None else status.updated_at or 0.0)


def observation_windows(history: Sequence[HistoryEntry]) -> tuple[list[Span], float | None]:
    """Every observation window of a run so far, and where the next one starts (None: at its step's start)."""
    spans: list[Span] = []
    last_observed: float | None = None
    step_started: float | None = None
    split_applied: float | None = None
    in_force = Traffic().split
    previous: HistoryEntry | None = None
    for entry in history:
        event = entry.event
        if event.type in OBSERVATIONS:
            start = last_observed if last_observed is not None else (step_started or entry.time)
            start = max(start, split_applied) if split_applied is not None and split_applied < entry.time else start
            weight = float(previous.traffic.canary_weight) if previous is not None else 0.0
            faults = previous.traffic.faults if previous is not None else ()
            judged = isinstance(event, Judged) and event.engine != "none"
            spans.append(Span(start, entry.time, weight, judged, faults))
            last_observed = entry.time
        if event.type == "applied" and entry.traffic.split != in_force:
            split_applied, in_force = entry.time, entry.traffic.split
        moved = previous is None or entry.step != previous.step
        resumed = (
            event.type == "command" and entry.from_phase.value == "Paused" and entry.to_phase.value == "Progressing"
        )
        if event.type == "start" or moved or resumed:
            step_started = entry.time
        previous = entry
    if split_applied is not None and (last_observed is None or split_applied > last_observed):
        return spans, split_applied
    return spans, last_observed
