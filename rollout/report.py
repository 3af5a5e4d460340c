"""An experiment's status as the report's data."""

from __future__ import annotations

from pathlib import Path

from analysis.report import Marker, MetricPoint, ReportData, render_html
from rollout.events import Judged, interval_name
from rollout.files import write_output
from rollout.status import Phase, Status

SHARES_LISTED = 12  # judgements whose served share the facts list (the chart shows them all)
_KINDS = {
    Phase.ROLLING_BACK: "rollback",
    Phase.ROLLED_BACK: "rollback",
    Phase.PROMOTING: "promote",
    Phase.SUCCEEDED: "promote",
}


def report_data(status: Status, title: str) -> ReportData:
    start = status.started_at or (status.history[0].time if status.history else 0.0)
    weights: list[tuple[float, int]] = []
    metrics: dict[str, list[MetricPoint]] = {}
    markers: list[Marker] = []
    shares: list[tuple[float, float]] = []
    previous_step = -1
    for entry in status.history:
        t = entry.time - start
        if not weights or weights[-1][1] != entry.traffic.canary_weight:
            weights.append((t, entry.traffic.canary_weight))
        if entry.from_phase != entry.to_phase:
            label = f"{entry.to_phase.value}: {entry.reason}"
            markers.append(Marker(t, label, _KINDS.get(entry.to_phase, "other")))
        elif entry.step > previous_step >= 0:
            markers.append(Marker(t, f"canary weight {entry.traffic.canary_weight}%: {entry.reason}", "advance"))
        previous_step = max(previous_step, entry.step)
        if isinstance(entry.event, Judged):
            if entry.event.canary_share is not None:
                shares.append((t, entry.event.canary_share))
            for m in entry.event.metrics:
                evidence = (
                    f"e={m.e_value:.3g}{m.mean_of}"
                    if m.e_value is not None
                    else f"p={m.p_value:.3g}"
                    if m.p_value is not None
                    else ""
                )
                low, high = m.interval if m.interval is not None else (None, None)
                point = MetricPoint(
                    t,
                    m.outcome,
                    m.estimate,
                    low,
                    high,
                    m.stable_value,
                    m.canary_value,
                    m.stable_n,
                    m.canary_n,
                    evidence,
                    m.edge or "",
                    m.margin_at or (),
                )
                metrics.setdefault(m.metric, []).append(point)
    faults = fault_spans(status, start)
    facts = [
        ("phase", status.phase.value),
        (
            "final weights" if status.phase.terminal else "weights now",
            f"{status.traffic.stable_weight}% stable / {status.traffic.canary_weight}% canary",
        ),
    ]
    if faults:
        facts.append(("faults injected", ", ".join(f"{which} {on:.0f}s-{off:.0f}s" for on, off, which in faults)))
    if shares:
        listed = ", ".join(f"{share:.1f}% at {t:.0f}s" for t, share in shares[:SHARES_LISTED])
        more = f" and {len(shares) - SHARES_LISTED} more" if len(shares) > SHARES_LISTED else ""
        facts.append(("share of requests the canary served", listed + more))
    if status.source is not None and status.source.commit:
        facts.append(("commit", f"{status.source.commit[:12]} by {status.source.author}: {status.source.message}"))
    engine = next((e.event.engine for e in reversed(status.history) if isinstance(e.event, Judged)), "sequential")
    return ReportData(
        title,
        status.phase.value,
        status.reason,
        weights,
        metrics,
        markers,
        facts,
        faults,
        shares,
        interval_name(engine),
    )


def fault_spans(status: Status, start: float) -> list[tuple[float, float, str]]:
    """When each fault was on (seconds from the start), by the faults the history says were on at each entry;
    a fault still on ends at the last entry. Named as the spec names it (chaos.faults[0])."""
    spans: list[tuple[float, float, str]] = []
    opened: dict[str, float] = {}
    for entry in status.history:
        t = entry.time - start
        for fault in [f for f in opened if f not in entry.traffic.faults]:
            spans.append((opened.pop(fault), t, _fault_name(fault)))
        for fault in entry.traffic.faults:
            opened.setdefault(fault, t)
    end = status.history[-1].time - start if status.history else 0.0
    spans += [(on, end, _fault_name(fault)) for fault, on in opened.items()]
    return sorted(spans)


def _fault_name(fault_id: str) -> str:
    """``demo/checkout#1`` (the experiment, the fault's index) as ``chaos.faults[1]``."""
    _, _, index = fault_id.rpartition("#")
    return f"chaos.faults[{index}]" if index.isdigit() else fault_id


def write_report(status: Status, title: str, path: Path) -> Path:
    write_output(path, render_html(report_data(status, title)))
    return path
