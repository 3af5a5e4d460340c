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
from dataclasses import dataclass, replace

from analysis.observations import StepWindow
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan
from rollout.judging import judged_weight
from rollout.plan import RunPlan
from rollout.status import Status
from rollout.windows import observation_spans


@dataclass(frozen=True)
class Evidence:
    windows: tuple[StepWindow, ...]
    restarted: str | None = None  # why the evidence restarts (None: it was re-collected)


def recollect(
    status: Status,
    source: MetricSource,
    queries: Sequence[MetricQuery],
    *,
    plan: RunPlan,
    names: StepSpan,
) -> Evidence:
    """The windows of ``status``'s run, queried again (each with the share the run judged it at, by
    ``judged_weight``), with the names ``names`` gives the source (``judging.step_span``: its times are
    replaced by each window's); or no windows and the reason why."""
    spans = observation_spans(status.history)
    judged = [s for s in spans if s.judged]
    if not judged or not queries:
        return Evidence(())
    windows: list[StepWindow] = []
    for span in judged:
        step = replace(names, start=span.start, end=span.end)
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
