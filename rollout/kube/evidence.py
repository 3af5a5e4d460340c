"""After a restart: the engine's past observations, re-collected from the metric source.

The decision engines judge all of a run's step windows so far, and those live in the controller's
memory. A restarted controller rebuilds them from the status history by the rule the orchestrator
starts each window by (``rollout/windows.py``), queries them again from the metric source
(Prometheus keeps the samples) with the weight that was in force, and goes on from where the
history says the next window starts, so no request is counted twice. An observation is recorded
at the moment its window ended, so the re-collected windows are the original ones.

If any window cannot be re-collected (the source is down, retention has dropped the data, or it
comes back empty), the evidence restarts instead: the engine starts again from the next window,
and the run says so in an Event (``EvidenceRestarted``). That is statistically safe for the
sequential engine (a new e-process is still a valid test; it has only lost the power of the
data before the restart) and for the others (they judge whatever windows they get); it never
mixes windows that overlap or skip decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis.observations import StepWindow
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan
from rollout.judging import judged_weight
from rollout.plan import RunPlan, judgement_due
from rollout.status import Status
from rollout.windows import last_observation, observation_spans


@dataclass(frozen=True)
class Evidence:
    windows: tuple[StepWindow, ...]
    restarted: str | None = None  # why the evidence restarts (None: it was re-collected)


def next_observation_due(status: Status, plan: RunPlan) -> float:
    """When the next observation is due: a step interval after the last one (or the step's start), or at the
    run's deadline when that comes first (``plan.judgement_due``)."""
    last = last_observation(status.history)
    base = last if last is not None and last >= (status.step_started_at or 0.0) else status.step_started_at
    return judgement_due(plan, status, base if base is not None else status.updated_at or 0.0)


def recollect(
    status: Status,
    source: MetricSource,
    queries: Sequence[MetricQuery],
    *,
    plan: RunPlan,
    stable: str,
    canary: str,
    service: str,
    namespace: str,
) -> Evidence:
    """The windows of ``status``'s run, queried again (each with the share the run judged it at, by
    ``judged_weight``); or no windows and the reason why."""
    spans = observation_spans(status.history)
    judged = [s for s in spans if s.judged]
    if not judged or not queries:
        return Evidence(())
    windows: list[StepWindow] = []
    for span in judged:
        step = StepSpan(span.start, span.end, stable, canary, service, namespace)
        try:
            pairs = source.collect(step, queries)
        except MetricsUnavailableError as exc:
            return Evidence((), f"the metric source could not be read again ({exc})")
        if not pairs:
            return Evidence(
                (), f"the metric source has no data any more for the window {span.start:.0f}-{span.end:.0f}"
            )
        weight = judged_weight(plan, span.canary_weight, span.faults, pairs)
        windows.append(StepWindow(len(windows), span.start, span.end, weight, pairs))
    return Evidence(tuple(windows))
