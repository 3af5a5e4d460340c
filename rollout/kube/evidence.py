"""After a restart: the engine's past observations, re-collected from the metric source.

The decision engines judge all of a run's step windows so far, and those live in the controller's
memory. A restarted controller rebuilds them from the status history: every judgement recorded
there (a ``judged`` entry from an engine) had a window that ran from the observation before it
(or the start of the step) to the moment it was recorded, but never from before the moment the
traffic split then in force was applied (the weights a judgement moved take effect when the mesh
write returns, an ``applied`` entry). Those windows are queried again from
the metric source (Prometheus keeps the samples), with the weight that was in force, and the
next window starts at the last recorded observation (or the last split applied after it), so no
request is counted twice.

If any window cannot be re-collected (the source is down, retention has dropped the data, or it
comes back empty), the evidence restarts instead: the engine starts again from the next window,
and the run says so in an Event (``EvidenceRestarted``). That is statistically safe for the
sequential engine (a new e-process is still a valid test; it has only lost the power of the
data before the restart) and for the others (they judge whatever windows they get); it never
mixes windows that overlap or skip decisions.

Window edges are the recorded times, which lag the original query time by the milliseconds the
judgement took: the re-collected counts are the original ones up to that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis.observations import StepWindow
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan
from rollout.events import Judged
from rollout.judging import observed_share
from rollout.plan import Kind
from rollout.status import HistoryEntry, Status, Traffic

OBSERVATIONS = frozenset({"judged", "no-data", "metrics-unavailable"})


@dataclass(frozen=True)
class Span:
    """One past observation window and whether the engine judged data in it."""

    start: float
    end: float
    canary_weight: float
    judged: bool


@dataclass(frozen=True)
class Evidence:
    windows: tuple[StepWindow, ...]
    next_start: float | None  # where the next window starts (None: at the step's start)
    restarted: str | None = None  # why the evidence restarts (None: it was re-collected)


def observation_spans(history: Sequence[HistoryEntry]) -> list[Span]:
    """Every observation window of a run, in order. Pure."""
    return _windows(history)[0]


def next_window_start(history: Sequence[HistoryEntry]) -> float | None:
    """Where the next observation window starts: the last observation or the last split applied."""
    return _windows(history)[1]


def last_observation(history: Sequence[HistoryEntry]) -> float | None:
    spans = observation_spans(history)
    return spans[-1].end if spans else None


def _windows(history: Sequence[HistoryEntry]) -> tuple[list[Span], float | None]:
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
            judged = isinstance(event, Judged) and event.engine != "none"
            spans.append(Span(start, entry.time, weight, judged))
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


def next_observation_due(status: Status, step_interval: float) -> float:
    """When the next observation is due: a step interval after the last one (or the step's start)."""
    last = last_observation(status.history)
    base = last if last is not None and last >= (status.step_started_at or 0.0) else status.step_started_at
    return (base if base is not None else status.updated_at or 0.0) + step_interval


def recollect(
    status: Status,
    source: MetricSource,
    queries: Sequence[MetricQuery],
    *,
    kind: Kind,
    stable: str,
    canary: str,
    service: str,
    namespace: str,
    observed_split: bool = False,
) -> Evidence:
    """The windows of ``status``'s run, queried again; or no windows and the reason why.

    ``observed_split`` (``RunPlan.observed_split``: a sticky canary) gives the engine the observed share,
    as for A/B and mirror runs."""
    spans, last = _windows(status.history)
    judged = [s for s in spans if s.judged]
    if not judged or not queries:
        return Evidence((), last)
    windows: list[StepWindow] = []
    for span in judged:
        step = StepSpan(span.start, span.end, stable, canary, service, namespace)
        try:
            pairs = source.collect(step, queries)
        except MetricsUnavailableError as exc:
            return Evidence((), last, f"the metric source could not be read again ({exc})")
        if not pairs:
            return Evidence(
                (), last, f"the metric source has no data any more for the window {span.start:.0f}-{span.end:.0f}"
            )
        observed = observed_split or kind in (Kind.AB_TEST, Kind.MIRROR)
        weight = observed_share(pairs) if observed else span.canary_weight
        windows.append(StepWindow(len(windows), span.start, span.end, weight, pairs))
    return Evidence(tuple(windows), last)
