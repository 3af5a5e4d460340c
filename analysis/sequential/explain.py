"""Per-metric verdicts with the numbers and one sentence a person can read."""

from __future__ import annotations

import math

from analysis.observations import Direction, MetricKind, MetricSpec
from analysis.sequential.counts import CountResult, RowResult
from analysis.sequential.gauges import GaugeEvidence
from analysis.verdicts import MetricVerdict, Outcome


def number(x: float) -> str:
    """Three significant digits; large and small values as 3.2e4."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        mantissa, exponent = f"{x:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def percent(p: float | None) -> str:
    if p is None:
        return "n/a"
    value = 100.0 * p
    return f"{value:.2f}%" if value >= 0.01 or value == 0 else f"{number(value)}%"


def with_unit(text: str, unit: str) -> str:
    """``text`` followed by the metric's unit, when it has one: "250 ms"."""
    return f"{text} {unit}" if unit else text


def interval(lo: float, hi: float) -> str:
    """A confidence sequence's ends as the engine reports them: an end of 0 or ∞ is written as 0 or ∞."""
    return f"[{number(lo)}, {number(hi)}]"


def _margin_text(spec: MetricSpec) -> str:
    return f"the {number(100.0 * spec.margin)}% margin"


def _what(spec: MetricSpec, row: RowResult) -> str:
    if spec.kind is MetricKind.LATENCY:
        return f"requests slower than {row.label}:"
    return "error rate"


def margin_at(spec: MetricSpec) -> tuple[float, ...]:
    """Where the margin lies on the scale of the verdict's estimate: a ratio for counts, a difference for gauges."""
    if spec.kind is MetricKind.GAUGE:
        high, low = spec.margin, -spec.margin
    else:
        high, low = 1.0 + spec.margin, 1.0 / (1.0 + spec.margin)
    return {Direction.INCREASE: (high,), Direction.DECREASE: (low,), Direction.EITHER: (low, high)}[spec.direction]


def _has_data(row: RowResult) -> bool:
    return row.exposure_canary > 0 and row.exposure_stable > 0


def _shown_row(result: CountResult, regressed: bool) -> RowResult:
    """The row whose numbers the verdict reports: one with data in both arms whenever there is one; on a
    regression an edge that proves it by itself, else the one nearest to doing so; otherwise the promotion edge
    farthest from being proven."""
    rows = [r for r in result.rows if _has_data(r)] or list(result.rows)
    if regressed:
        alone = [r for r in rows if r.alone]
        if alone:
            return max(alone, key=lambda r: r.e_value / r.threshold)
        return max(rows, key=lambda r: r.peak_e_value / r.threshold)
    return max([r for r in rows if r.promote] or rows, key=lambda r: r.slack)


def _regression_body(spec: MetricSpec, row: RowResult, head: str, evidence: str, edges: int) -> str:
    """The rollback sentence. With several edges the evidence is the mean over them, which proves that at least
    one edge regressed; the sentence names the edge only when that edge's own CS excludes the margin."""
    margin = _margin_text(spec)
    cs = interval(*row.interval)
    ratio = f"ratio {number(row.estimate if row.estimate is not None else math.nan)}"
    if edges == 1:
        return f"{head} ({ratio}, CS {cs}); e-value {evidence} proves a regression beyond {margin}"
    mean = f"e-value (mean over the {edges} edges) {evidence}"
    if row.alone:
        return (
            f"{head} ({ratio}, CS {cs}); {mean} proves a regression beyond {margin}, at the {row.label} edge, "
            "whose own CS excludes the margin"
        )
    return (
        f"{head} ({ratio}, CS {cs}, the nearest of the {edges} edges to proof on its own); {mean} proves jointly "
        f"that at least one of the {edges} edges regressed beyond {margin}, though no single edge's CS excludes it yet"
    )


def _of_edges(edges: int, judged: int) -> str:
    if edges <= 1:
        return ""
    if judged == 1:
        return f", the only one of {edges} edges with data"
    if 1 < judged < edges:
        return f", worst of the {judged} of {edges} edges with data"
    return f", worst of {edges} edges"


def count_verdict(
    result: CountResult,
    alpha: float,
    exposure_ok: bool,
    exposure_note: str,
    blocker: str,
) -> MetricVerdict:
    """The verdict of an errors or latency metric. ``blocker`` (bad or missing data now) holds it."""
    spec = result.spec
    threshold = 1.0 / alpha
    latency = spec.kind is MetricKind.LATENCY
    if not result.rows:
        return MetricVerdict(
            spec.name,
            Outcome.HOLD,
            blocker or "no data yet",
            threshold=threshold,
            critical=spec.critical,
            margin_at=margin_at(spec),
        )
    regressed = result.regressed
    row = _shown_row(result, bool(regressed))
    e_now, e_peak = result.e_value, result.peak_e_value  # on the 1/alpha scale (alpha: the metric's share)
    edges = len(result.rows)
    judged = sum(_has_data(r) for r in result.rows)
    together = f" (mean over the {edges} edges)" if edges > 1 else ""
    head = f"{_what(spec, row)} canary {percent(row.rate_canary)} vs stable {percent(row.rate_stable)}"
    est = number(row.estimate if row.estimate is not None else math.nan)
    cs = interval(*row.interval)
    if not _has_data(row):
        what = "no tested edge has counts" if latency else "no step has requests"
        body = f"{what} in both arms yet: not yet known"
    elif row.bad_stable + row.bad_canary == 0:
        body = (
            f"{head}: none yet in either arm ({number(row.exposure_canary)} canary, "
            f"{number(row.exposure_stable)} stable requests), so the ratio is unbounded: not yet known"
        )
    elif regressed:
        when = "" if e_now >= threshold else " at an earlier look"
        body = _regression_body(spec, row, head, f"{number(e_peak)} ≥ {number(threshold)}{when}", edges)
    elif result.non_inferior:
        every = f" (every one of the {edges} edges tested for promotion)" if edges > 1 else ""
        body = f"{head}: ratio {est} with CS {cs}, within {_margin_text(spec)}: non-inferior{every}"
    else:
        body = (
            f"{head} (ratio {est}, CS {cs}{_of_edges(edges, judged)}); e-value{together} {number(e_now)} < "
            f"{number(threshold)} and the CS still reaches past {_margin_text(spec)}: not yet known"
        )
    outcome = _outcome(bool(regressed), result.non_inferior, exposure_ok, blocker)
    reason = _finish(body, outcome, bool(regressed), result.non_inferior, exposure_note, blocker)
    return MetricVerdict(
        metric=spec.name,
        outcome=outcome,
        reason=reason,
        estimate=row.estimate,
        interval=row.interval,
        e_value=e_now if judged else None,
        p_value=(min(1.0, 1.0 / e_peak) if e_peak > 0 else 1.0) if judged else None,
        threshold=threshold,
        stable_n=row.exposure_stable,
        canary_n=row.exposure_canary,
        stable_value=row.rate_stable,
        canary_value=row.rate_canary,
        critical=spec.critical,
        edge=row.label if latency else "",
        edges=edges if latency else 0,
        margin_at=margin_at(spec),
    )


def gauge_verdict(
    spec: MetricSpec,
    evidence: GaugeEvidence,
    alpha: float,
    means: tuple[float | None, float | None],
    samples: tuple[float, float],
    exposure_ok: bool,
    exposure_note: str,
    blocker: str,
) -> MetricVerdict:
    threshold = 1.0 / alpha
    regressed = evidence.max_e_value >= threshold
    if evidence.blocks < 2:
        body = f"{evidence.blocks} step(s) with gauge samples in both arms; the test needs at least 2"
    else:
        lo, hi = evidence.interval
        unit = spec.unit
        head = (
            f"mean canary {with_unit(_value(means[1]), unit)} vs stable {with_unit(_value(means[0]), unit)} "
            f"(difference {with_unit(f'{evidence.estimate:+.3g}', unit)}, CS [{number(lo)}, {number(hi)}] over "
            f"{evidence.blocks} steps)"
        )
        side = {Direction.INCREASE: "above", Direction.DECREASE: "below", Direction.EITHER: "beyond"}
        margin = f"the margin {with_unit(number(spec.margin), unit)}"
        if regressed:
            when = "" if evidence.e_value >= threshold else " at an earlier look"
            body = (
                f"{head}; e-value {number(evidence.max_e_value)} ≥ {number(threshold)}{when} proves a "
                f"regression {side[spec.direction]} {margin}"
            )
        elif evidence.non_inferior:
            body = f"{head}: within {margin}, non-inferior"
        else:
            body = (
                f"{head}; e-value {number(evidence.e_value)} < {number(threshold)} and the CS still reaches "
                f"past {margin}: not yet known"
            )
    outcome = _outcome(regressed, evidence.non_inferior, exposure_ok, blocker)
    reason = _finish(body, outcome, regressed, evidence.non_inferior, exposure_note, blocker)
    finite = evidence.blocks >= 2
    return MetricVerdict(
        metric=spec.name,
        outcome=outcome,
        reason=reason,
        estimate=evidence.estimate if finite else None,
        interval=evidence.interval if finite else None,
        e_value=evidence.e_value,
        p_value=min(1.0, 1.0 / evidence.max_e_value) if evidence.max_e_value > 0 else 1.0,
        threshold=threshold,
        stable_n=samples[0],
        canary_n=samples[1],
        stable_value=means[0],
        canary_value=means[1],
        critical=spec.critical,
        margin_at=margin_at(spec),
    )


def _value(x: float | None) -> str:
    return number(x) if x is not None else "n/a"


def _outcome(regressed: bool, non_inferior: bool, exposure_ok: bool, blocker: str) -> Outcome:
    if regressed:
        return Outcome.ROLLBACK
    if non_inferior and exposure_ok and not blocker:
        return Outcome.ADVANCE
    return Outcome.HOLD


def _finish(body: str, outcome: Outcome, regressed: bool, non_inferior: bool, exposure_note: str, blocker: str) -> str:
    if regressed:
        return body
    if blocker:
        return f"{blocker}; holding ({body})"
    if non_inferior and outcome is Outcome.HOLD and exposure_note:
        return f"{body}, but {exposure_note}"
    return body
