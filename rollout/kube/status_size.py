"""How large an Experiment's stored ``.status`` grows over a long run, and what writing and reading it
costs: ``meshroll bench status``.

A run judges every interval. The history is built as the state machine builds it
(``rollout.history.appended``), from judgements whose per-metric numbers and reasons have the
size real ones have, then stored as the controller stores it (``document.compose``) and read back
as a restarted controller reads it (``document.split``).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass

from rollout.events import Judged, MetricNumbers
from rollout.history import appended
from rollout.kube.document import RunInfo, compose, split
from rollout.status import HistoryEntry, Phase, Status, Traffic

API_SERVER_LIMIT = 1_572_864  # bytes: the request size the API server (etcd) accepts by default, 1.5 MiB


def judged_run(
    judgements: int, metrics: int, steps: int, interval_s: float = 60.0, keep_every_number: bool = False
) -> Status:
    """A run that judged every ``interval_s``: ``judgements`` holds spread evenly over ``steps`` steps
    (the first of each step after the first is the judgement that advanced the run). Thinned as the
    machine thins it, unless ``keep_every_number`` (as meshroll kept histories before thinning)."""

    def numbers(i: int) -> tuple[MetricNumbers, ...]:
        return tuple(
            MetricNumbers(
                metric=f"metric-{m}",
                outcome="hold",
                reason=f"requests slower than 250: 2.52% vs 2.19% (ratio 1.16, CS [1.06, 1.24]); e-value {i} < 200",
                estimate=1.16,
                interval=(1.06, 1.24),
                e_value=float(i),
                threshold=200.0,
                stable_n=123456.0,
                canary_n=12345.0,
                stable_value=0.0219,
                canary_value=0.0252,
            )
            for m in range(metrics)
        )

    history: tuple[HistoryEntry, ...] = ()
    for i in range(judgements):
        step = i * steps // judgements
        reason = f"error-rate: ratio {1 + i / 1e5:.5f} with CS [0.71, 1.42], within 1.1? not yet known ({i})"
        entry = HistoryEntry(
            time=interval_s * (i + 1),
            event=Judged(
                outcome="hold",
                engine="sequential",
                reason=reason,
                metrics=numbers(i),
                canary_requests=100.0 * (i + 1),
                canary_share=round(4.5 + (i % 11) * 0.1, 2),  # a sticky canary's observed share, never its weight
            ),
            from_phase=Phase.PROGRESSING,
            to_phase=Phase.PROGRESSING,
            step=step,
            traffic=Traffic(canary_weight=5 * (1 + step)),
            reason=reason,
        )
        history = (*history, entry) if keep_every_number else appended(history, entry)
    return Status(phase=Phase.PROGRESSING, step=steps - 1, traffic=Traffic(canary_weight=5 * steps), history=history)


@dataclass(frozen=True)
class StatusSize:
    days: float
    judgements: int
    with_numbers: int  # judgements that keep their per-metric numbers
    whole_bytes: int  # the history with every judgement's numbers, as it was kept before thinning (estimated)
    thinned_bytes: int  # the thinned history, not packed
    stored_bytes: int  # the whole .status as written
    write_ms: float  # compose: Status -> the .status document
    read_ms: float  # split: the .status document -> Status

    @property
    def fits(self) -> bool:
        return self.stored_bytes < API_SERVER_LIMIT


def measure(days: float, metrics: int, interval_s: float = 60.0, steps: int = 6, repeats: int = 3) -> StatusSize:
    """The stored status of a run of ``days`` judged every ``interval_s`` on ``metrics`` metrics."""
    judgements = max(1, round(days * 86400 / interval_s))
    status = judged_run(judgements, metrics, steps, interval_s)
    writes, reads = [], []
    body: dict[str, object] = {}
    for _ in range(repeats):
        began = time.perf_counter()
        body = compose(status, RunInfo(run=1), [], "bench")
        writes.append(time.perf_counter() - began)
        text = json.loads(json.dumps(body))
        began = time.perf_counter()
        split(text)
        reads.append(time.perf_counter() - began)
    kept = [e.event for e in status.history if isinstance(e.event, Judged) and e.event.metrics]
    per_judgement = len(json.dumps([m.model_dump(by_alias=True) for m in kept[-1].metrics])) if kept else 0
    thinned_bytes = len(json.dumps(json.loads(status.model_dump_json(by_alias=True))["history"]))  # as recorded
    return StatusSize(
        days=days,
        judgements=judgements,
        with_numbers=len(kept),
        whole_bytes=thinned_bytes + (judgements - len(kept)) * per_judgement,
        thinned_bytes=thinned_bytes,
        stored_bytes=len(json.dumps(body)),
        write_ms=1000 * statistics.median(writes),
        read_ms=1000 * statistics.median(reads),
    )
