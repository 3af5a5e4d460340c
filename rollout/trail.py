"""The decision trail: one readable line per history entry, with its numbers. Pure."""

from __future__ import annotations

import math

from rollout.events import Applied, Judged, MetricNumbers, interval_name
from rollout.status import HistoryEntry


def _num(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    if math.isinf(value):  # an unbounded interval end (or an infinite e-value)
        return "∞" if value > 0 else "-∞"
    if pct:
        return f"{100 * value:.2f}%"
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
        return f"{value:.2e}"
    return f"{value:.3g}"


def metric_line(m: MetricNumbers, engine: str = "sequential") -> str:
    interval = f" {interval_name(engine)} [{_num(m.interval[0])}, {_num(m.interval[1])}]" if m.interval else ""
    evidence = f" e={_num(m.e_value)}{m.mean_of}" if m.e_value is not None else ""
    values = ""
    if m.stable_value is not None and m.canary_value is not None:
        values = f" stable {_num(m.stable_value)} canary {_num(m.canary_value)};"
    return (
        f"{m.subject}: {m.outcome.upper()};{values} estimate {_num(m.estimate)}{interval}{evidence}"
        f" (n={m.stable_n:.0f}/{m.canary_n:.0f})"
    )


def entry_lines(entry: HistoryEntry, started_at: float | None, previous: HistoryEntry | None = None) -> list[str]:
    """The lines that tell a person what this entry decided and why.

    An entry that only carries out the one before it (the weights applied after a decision) has the
    same reason; it is not printed twice.
    """
    t = entry.time - (started_at if started_at is not None else entry.time)
    weights = f"{entry.traffic.stable_weight}/{entry.traffic.canary_weight}"
    if previous is not None and previous.traffic.canary_weight != entry.traffic.canary_weight:
        # the entry moved the weights: the numbers under it were measured at the ones before
        weights = f"{previous.traffic.stable_weight}/{previous.traffic.canary_weight} -> {weights}"
    extra = []
    if entry.traffic.ab_active:
        extra.append("cohort on")
    if entry.traffic.mirror_percent:
        extra.append(f"mirror {entry.traffic.mirror_percent:g}%")
    if entry.traffic.faults:
        extra.append(f"faults {len(entry.traffic.faults)}")
    if isinstance(entry.event, Judged) and entry.event.canary_share is not None:
        extra.append(f"the canary served {entry.event.canary_share:.1f}% of the requests just judged")
    suffix = f" ({', '.join(extra)})" if extra else ""
    phase = entry.to_phase.value if entry.from_phase == entry.to_phase else f"{entry.from_phase} -> {entry.to_phase}"
    head = f"[{t:6.1f}s] {entry.event.type:<19} {phase:<26} weights {weights}{suffix}"
    repeated = isinstance(entry.event, Applied) and previous is not None and previous.reason == entry.reason
    head += "" if repeated else f": {entry.reason}"
    lines = [head]
    if isinstance(entry.event, Judged):
        lines += [f"           - {metric_line(m, entry.event.engine)}" for m in entry.event.metrics]
    return lines


def note_line(event: str, time: float, started_at: float | None, text: str) -> str:
    """A line, aligned with the history's, for what a run does besides its history (the chaos recovery check)."""
    t = time - (started_at if started_at is not None else time)
    return f"[{t:6.1f}s] {event:<19} {text}"
