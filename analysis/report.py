"""A self-contained HTML report of one experiment: weights over time and each metric per step. Pure.

Plots are inline SVG; the page has no scripts and loads nothing, so it can be attached anywhere.
A long run's page stays small: past ``MAX_DRAWN`` judgements a metric's plot draws every decision,
the first and the last, and the lowest and highest points of each pixel's width of time (the same
extent as all of them); past ``MAX_LISTED`` its table lists the decisions, the extremes, the first
and the last ``TABLE_EDGE``, and says how many it leaves out.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from analysis.thinning import drawn, gaps, listed


@dataclass(frozen=True)
class MetricPoint:
    time: float  # seconds since the start
    outcome: str
    estimate: float | None
    low: float | None
    high: float | None
    stable_value: float | None
    canary_value: float | None
    stable_n: float
    canary_n: float
    evidence: str  # e-value or p-value, written for people
    edge: str = ""  # a latency metric's bucket edge the numbers are for ("25 ms": the share of requests slower)
    margin_at: tuple[float, ...] = ()  # where the metric's margin lies on the estimate's scale


@dataclass(frozen=True)
class Marker:
    time: float
    label: str
    kind: str  # advance, rollback, promote, hold, other


@dataclass(frozen=True)
class ReportData:
    title: str
    phase: str
    headline: str  # the reason for the final decision, in one sentence
    weights: Sequence[tuple[float, int]]  # (time, canary weight)
    metrics: dict[str, list[MetricPoint]] = field(default_factory=dict)
    markers: Sequence[Marker] = ()
    facts: Sequence[tuple[str, str]] = ()
    faults: Sequence[tuple[float, float, str]] = ()  # (on, off, which): when each injected fault was on
    shares: Sequence[tuple[float, float]] = ()  # (time, percent): the share of requests the canary served, per
    # judgement, where it is not the weight (sticky users, a cohort, an A/B test, a mirror)
    interval_name: str = "CS"  # the sequential engine's confidence sequence; Kayenta's "CI"; a plugin's "interval"


_COLOURS = {"advance": "#2e7d32", "rollback": "#c62828", "promote": "#1565c0", "hold": "#9e9e9e", "other": "#6a1b9a"}
W, H, PAD = 720, 220, 44
MAX_DRAWN = 1000  # a metric's plot draws every judgement up to this many
REACH = 2.0  # intervals are drawn this many times the estimates' spread beyond them (tooltips give their ends)
MAX_LISTED = 200  # a metric's table lists every judgement up to this many
TABLE_EDGE = 20  # past it, the table still lists this many first and last judgements


READING = (
    "How to read the numbers (of the default sequential engine): the estimate of an error or latency metric is "
    "the canary/stable ratio stratified by step (the conditional MLE over the steps, so that load shared by both "
    "arms cancels), while the stable and canary columns are rates pooled over the whole run, so the two can point "
    "different ways. A latency metric's numbers are of the share of requests slower than the edge shown; with "
    "several edges its e-value is the mean over them. CS is the confidence sequence: its end on the side of a "
    "regression (the lower end, where an increase is bad) is at the metric's share of alpha (split among a "
    "latency metric's edges), the rollback level, and the other end at the promotion level (95%). The dashed "
    "grey line is no difference, the red one the margin; an arrow marks a CS that goes on beyond the plot."
)


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> tuple[float, float]:
    span = hi - lo or 1.0
    factor = (out_hi - out_lo) / span
    return factor, out_lo - lo * factor


def _axis_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / count for i in range(count + 1)]


def _fmt(value: float) -> str:
    if math.isinf(value):  # an unbounded interval end
        return "∞" if value > 0 else "-∞"
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-2):
        return f"{value:.1e}"
    return f"{value:.3g}"


def _frame(title: str, x_max: float, y_lo: float, y_hi: float, body: list[str], markers: Sequence[Marker]) -> str:
    fx, bx = _scale(0.0, x_max, PAD, W - 12)
    fy, by = _scale(y_lo, y_hi, H - 28, 14)
    parts = [f'<svg viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{html.escape(title)}">']
    parts.append(f'<rect x="{PAD}" y="14" width="{W - PAD - 12}" height="{H - 42}" fill="#fafafa" stroke="#ddd"/>')
    for tick in _axis_ticks(y_lo, y_hi):
        y = fy * tick + by
        parts.append(f'<line x1="{PAD}" x2="{W - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{PAD - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{_fmt(tick)}</text>')
    for tick in _axis_ticks(0.0, x_max):
        x = fx * tick + bx
        parts.append(f'<text x="{x:.1f}" y="{H - 12}" text-anchor="middle" font-size="10">{tick:.0f}s</text>')
    for marker in markers:
        x = fx * marker.time + bx
        colour = _COLOURS.get(marker.kind, _COLOURS["other"])
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="14" y2="{H - 28}" stroke="{colour}" stroke-dasharray="3,3">'
            f"<title>{html.escape(marker.label)}</title></line>"
        )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def _weights_svg(data: ReportData, x_max: float) -> str:
    fx, bx = _scale(0.0, x_max, PAD, W - 12)
    fy, by = _scale(0.0, 100.0, H - 28, 14)
    points: list[str] = []
    previous: int | None = None
    for t, weight in data.weights:
        x = fx * t + bx
        if previous is not None:
            points.append(f"{x:.1f},{fy * previous + by:.1f}")
        points.append(f"{x:.1f},{fy * weight + by:.1f}")
        previous = weight
    if previous is not None:
        points.append(f"{fx * x_max + bx:.1f},{fy * previous + by:.1f}")
    line = f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{" ".join(points)}"/>'
    bands = [
        f'<rect x="{fx * on + bx:.1f}" y="{fy * 100.0 + by:.1f}" width="{max(fx * (off - on), 1.0):.1f}" '
        f'height="{fy * 0.0 - fy * 100.0:.1f}" fill="#c62828" opacity="0.12"><title>{html.escape(which)} on '
        f"{on:.0f}s-{off:.0f}s</title></rect>"
        for on, off, which in data.faults
    ]
    served = [
        f'<circle cx="{fx * t + bx:.1f}" cy="{fy * share + by:.1f}" r="3.5" fill="#ef6c00"><title>the canary served '
        f"{share:.1f}% of the requests judged at {t:.0f}s</title></circle>"
        for t, share in data.shares
    ]
    title = (
        "canary weight (%)"
        + ("; dots: the share of requests it served" if served else "")
        + ("; shaded: faults injected" if bands else "")
    )
    return _frame(title, x_max, 0.0, 100.0, [*bands, line, *served], data.markers)


def _decisions(points: Sequence[MetricPoint], markers: Sequence[Marker]) -> list[int]:
    """The judgements made where the run decided something (a marker's time)."""
    times = {m.time for m in markers}
    return [i for i, p in enumerate(points) if p.time in times]


def _bar(p: MetricPoint, bottom: float, top: float) -> tuple[float, float, bool, bool] | None:
    """The ends of ``p``'s interval as drawn, and whether each is cut by the plot: an end beyond the plot
    (unbounded above, or the wide interval of an early step) runs to its edge and is marked there; a missing or
    NaN end, or one unbounded below, is not drawn."""
    if p.low is None or p.high is None or not math.isfinite(p.low) or math.isnan(p.high) or p.high == -math.inf:
        return None
    return max(p.low, bottom), min(p.high, top), p.low < bottom, p.high > top


def _margins(points: Sequence[MetricPoint]) -> tuple[float, ...]:
    """The metric's margin on the estimate's scale, as its latest judgement recorded it."""
    for p in reversed(points):
        if p.margin_at:
            return tuple(m for m in p.margin_at if math.isfinite(m))
    return ()


def _value_range(points: Sequence[MetricPoint]) -> tuple[float, float] | None:
    """The plot's value axis: every estimate, 1 (no difference) and the margin, and the intervals as far as
    ``REACH`` times the estimates' own spread beyond them; the first steps' intervals, tens of times wider than
    the estimates, would otherwise squash every estimate onto one line. With no negative value (a ratio) the
    axis starts at 0 at the lowest."""
    values = [v for p in points for v in (p.estimate, p.low, p.high) if v is not None and math.isfinite(v)]
    if not values:
        return None
    estimates = [p.estimate for p in points if p.estimate is not None and math.isfinite(p.estimate)]
    margins = list(_margins(points))
    core_lo, core_hi = min([*estimates, *margins, 1.0]), max([*estimates, *margins, 1.0])
    reach = max(core_hi - core_lo, 0.1) * REACH
    lo, hi = max(min(values), core_lo - reach), min(max(values), core_hi + reach)
    pad = (hi - lo) * 0.1 or 0.1
    bottom = lo - pad
    if min([*values, *margins]) >= 0:
        bottom = max(bottom, 0.0)
    return bottom, hi + pad


def _chevron(x: float, y: float, up: bool, colour: str, text: str) -> str:
    """An arrowhead at a cut end of an interval, pointing where it goes on."""
    tip, base = (y - 5.0, y + 1.0) if up else (y + 5.0, y - 1.0)
    return (
        f'<polyline points="{x - 5:.1f},{base:.1f} {x:.1f},{tip:.1f} {x + 5:.1f},{base:.1f}" fill="none" '
        f'stroke="{colour}" stroke-width="2"><title>{html.escape(text)}</title></polyline>'
    )


def _edges_shown(points: Sequence[MetricPoint]) -> str:
    """What a latency metric's numbers are of: " (> 25 ms)", or the edges they move between."""
    edges = list(dict.fromkeys(p.edge for p in points if p.edge))
    if not edges:
        return ""
    if len(edges) == 1:
        return f" (> {edges[0]})"
    return f" (> {' or '.join(edges)}: each judgement's edge is in the table)"


def _metric_svg(name: str, points: list[MetricPoint], x_max: float, markers: Sequence[Marker], cs: str = "CS") -> str:
    axis = _value_range(points)
    if axis is None:
        return "<p>No estimates were recorded for this metric.</p>"
    lo, hi = axis
    fx, bx = _scale(0.0, x_max, PAD, W - 12)
    fy, by = _scale(lo, hi, H - 28, 14)
    body = [
        f'<line x1="{PAD}" x2="{W - 12}" y1="{fy + by:.1f}" y2="{fy + by:.1f}" stroke="#555" '
        'stroke-dasharray="6,3"><title>no difference</title></line>'
    ]
    for margin in _margins(points):
        if lo <= margin <= hi:
            y = fy * margin + by
            body.append(
                f'<line x1="{PAD}" x2="{W - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c62828" stroke-dasharray="2,3">'
                f"<title>the margin: {_fmt(margin)}</title></line>"
                f'<text x="{W - 14}" y="{y - 3:.1f}" text-anchor="end" font-size="10" fill="#c62828">'
                f"margin {_fmt(margin)}</text>"
            )
    shown = points
    if len(points) > MAX_DRAWN:
        estimates = [p.estimate for p in points]
        keep = _decisions(points, markers)
        lows, highs = [[p.low for p in points], estimates], [[p.high for p in points], estimates]
        chosen = drawn([p.time for p in points], lows, highs, t_max=x_max, buckets=W - 12 - PAD, keep=keep)
        shown = [points[i] for i in chosen]
    for p in shown:
        x = fx * p.time + bx
        colour = _COLOURS.get(p.outcome, _COLOURS["other"])
        bar = _bar(p, lo, hi)
        if bar is not None:
            body.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{fy * bar[0] + by:.1f}" y2="{fy * bar[1] + by:.1f}" '
                f'stroke="{colour}" stroke-width="3" opacity="0.5"/>'
            )
            cut = f"t={p.time:.0f}s: the {cs} [{_fmt(p.low or 0.0)}, {_fmt(p.high or 0.0)}] goes on beyond the plot"
            if bar[3]:
                body.append(_chevron(x, fy * bar[1] + by, True, colour, cut))
            if bar[2]:
                body.append(_chevron(x, fy * bar[0] + by, False, colour, cut))
        if p.estimate is not None and math.isfinite(p.estimate):
            interval = f"no {cs}" if p.low is None or p.high is None else f"{cs} [{_fmt(p.low)}, {_fmt(p.high)}]"
            edge = f" (> {p.edge})" if p.edge else ""
            tip = html.escape(
                f"t={p.time:.0f}s {p.outcome}{edge}: estimate {_fmt(p.estimate)} {interval}, {p.evidence}"
            )
            body.append(
                f'<circle cx="{x:.1f}" cy="{fy * p.estimate + by:.1f}" r="4" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
    title = f"{name}{_edges_shown(points)}: estimate (canary vs stable) and its {cs}, with the margin"
    plot = _frame(title, x_max, lo, hi, body, markers)
    if len(shown) < len(points):
        plot += (
            f"<p>Drawn: {len(shown):,} of {len(points):,} judgements: every decision, the first and the last, "
            "and the lowest and highest of each pixel's width of time.</p>"
        )
    return plot


def _table(points: list[MetricPoint], markers: Sequence[Marker], cs: str = "CS") -> str:
    edged = any(p.edge for p in points)
    if len(points) <= MAX_LISTED:
        body = "".join(_row(p, edged) for p in points)
    else:
        kept = listed(len(points), [*_decisions(points, markers), *_extremes(points)], edge=TABLE_EDGE)
        parts = {i: _row(points[i], edged) for i in kept}
        parts |= {first: _left_out(points[first : last + 1], edged) for first, last in gaps(kept, len(points))}
        body = "".join(parts[i] for i in sorted(parts))
    columns = ("time", "verdict", *(("edge",) if edged else ()), "stable", "canary", "estimate", cs, "evidence")
    head = "".join(f"<th>{h}</th>" for h in (*columns, "n stable / canary"))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _extremes(points: Sequence[MetricPoint]) -> list[int]:
    """The judgements with the lowest and the highest estimate."""
    finite = [(p.estimate, i) for i, p in enumerate(points) if p.estimate is not None and math.isfinite(p.estimate)]
    return [min(finite)[1], max(finite)[1]] if finite else []


def _left_out(points: Sequence[MetricPoint], edged: bool = False) -> str:
    verdicts = ", ".join(f"{n:,} {v}" for v, n in Counter(p.outcome for p in points).most_common())
    span = f"from {points[0].time:.0f}s to {points[-1].time:.0f}s"
    text = f"... {len(points):,} judgements {span} not listed ({verdicts})"
    return f"<tr><td colspan='{9 if edged else 8}'>{html.escape(text)}</td></tr>"


def _row(p: MetricPoint, edged: bool = False) -> str:
    return (
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (
                f"{p.time:.0f}s",
                p.outcome,
                *((f"> {p.edge}" if p.edge else "-",) if edged else ()),
                "-" if p.stable_value is None else _fmt(p.stable_value),
                "-" if p.canary_value is None else _fmt(p.canary_value),
                "-" if p.estimate is None else _fmt(p.estimate),
                "-" if p.low is None or p.high is None else f"[{_fmt(p.low)}, {_fmt(p.high)}]",
                p.evidence,
                f"{p.stable_n:.0f} / {p.canary_n:.0f}",
            )
        )
        + "</tr>"
    )


def render_html(data: ReportData) -> str:
    """The whole page as one string."""
    times = [t for t, _ in data.weights] + [p.time for ps in data.metrics.values() for p in ps]
    x_max = max([*times, 1.0])
    sections = [f"<h2>Traffic</h2>{_weights_svg(data, x_max)}"]
    if data.metrics and data.interval_name == "CS":
        sections.append(f"<p>{html.escape(READING)}</p>")
    cs = data.interval_name
    for name, points in data.metrics.items():
        plot, table = _metric_svg(name, points, x_max, data.markers, cs), _table(points, data.markers, cs)
        sections.append(f"<h2>{html.escape(name + _edges_shown(points))}</h2>{plot}{table}")
    facts = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in data.facts)
    decisions = "".join(f"<li><b>{m.time:.0f}s</b> {html.escape(m.label)}</li>" for m in data.markers)
    style = (
        "body{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px}"
        ".headline{font-size:1.2em;padding:.6em;border-left:6px solid #1565c0;background:#f3f6fb}"
        "dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}dd{margin:0}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(data.title)}: {html.escape(data.phase)}</h1>"
        f"<p class='headline'>{html.escape(data.headline)}</p><dl>{facts}</dl>"
        f"{''.join(sections)}<h2>Decisions</h2><ol>{decisions}</ol></body></html>"
    )
