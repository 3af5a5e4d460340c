"""The in-process source: consecutive step windows never overlap, whatever the timing of reads."""

from __future__ import annotations

from dataclasses import dataclass

from analysis.observations import MetricKind
from rollout.sources import CountersSource, MetricQuery, StepSpan


@dataclass(frozen=True)
class Counts:
    requests: float
    errors: float
    buckets: tuple[tuple[float, float], ...] = ()


class Mesh:
    """Cumulative counters that grow by 100 requests per read, and a clock that runs a little late."""

    def __init__(self) -> None:
        self.total = 0.0
        self.now = 0.0

    def read(self) -> dict[str, Counts]:
        self.total += 100
        self.now += 0.01  # the read happens just after the caller looked at the clock
        return {"v1": Counts(self.total * 0.9, 0), "v2": Counts(self.total * 0.1, 0)}

    def clock(self) -> float:
        return self.now


def test_consecutive_windows_split_the_counts_without_overlap() -> None:
    mesh = Mesh()
    source = CountersSource(mesh.read, mesh.clock)
    errors = [MetricQuery("errors", "istio-error-rate", MetricKind.ERRORS)]
    seen = []
    start = mesh.now
    for end in (10.0, 20.0, 30.0):
        mesh.now = end
        pair = source.collect(StepSpan(start, end, "v1", "v2"), errors)["errors"]
        seen.append(pair.stable.requests + pair.canary.requests)
        start = end
    assert seen == [100.0, 100.0, 100.0]


def test_an_overlapping_window_reads_from_the_last_read_at_or_before_its_start() -> None:
    mesh = Mesh()
    source = CountersSource(mesh.read, mesh.clock)
    errors = [MetricQuery("errors", "istio-error-rate", MetricKind.ERRORS)]
    for end in (10.0, 20.0):
        mesh.now = end
        source.collect(StepSpan(end - 10, end, "v1", "v2"), errors)
    mesh.now = 25.0
    halt_check = source.collect(StepSpan(10.0, 25.0, "v1", "v2"), errors)["errors"]
    assert halt_check.stable.requests + halt_check.canary.requests == 200.0
