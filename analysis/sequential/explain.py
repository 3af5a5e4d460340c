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
    """A confidence interval as the engine reports it: an end of 0 or ∞ is written as 0 or ∞."""
    return f"[{number(lo)}, {number(hi)}]"


def _margin_text(spec: MetricSpec) -> str:
    return f"the {number(100.0 * spec.margin)}% margin"


def _what(spec: MetricSpec, row: RowResult) -> str:
    if spec.kind is MetricKind.LATENCY:
        return f"requests slower than {row.label}:"
    return "error rate"


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
    if not result.rows:
        return MetricVerdict(
            spec.name, Outcome.HOLD, blocker or "no data yet", threshold=threshold, critical=spec.critical
        )
    regressed = result.regressed
    if regressed:
        row = max(result.rows, key=lambda r: r.peak_e_value / r.threshold)
    else:
        row = max((r for r in result.rows if r.promote), key=lambda r: r.slack)
    e_now, e_peak = result.e_value, result.peak_e_value  # on the 1/alpha scale (alpha: the metric's share)
    edges = len(result.rows)
    worst = f", worst of {edges} edges" if edges > 1 else ""
    together = f" (mean over the {edges} edges)" if edges > 1 else ""
    head = f"{_what(spec, row)} {percent(row.rate_canary)} vs {percent(row.rate_stable)}"
    est = number(row.estimate if row.estimate is not None else math.nan)
    cs = interval(*row.interval)
    if row.exposure_canary <= 0 or row.exposure_stable <= 0:
        body = "no step has requests in both arms yet: not yet known"
    elif row.bad_stable + row.bad_canary == 0:
        body = (
            f"{head}: none yet in either arm ({number(row.exposure_canary)} canary, "
            f"{number(row.exposure_stable)} stable requests), so the ratio is unbounded: not yet known"
        )
    elif regressed:
        when = "" if e_now >= threshold else " at an earlier look"
        body = (
            f"{head} (ratio {est}, CS {cs}{worst}); e-value{together} {number(e_peak)} ≥ {number(threshold)}{when} "
            f"proves a regression beyond {_margin_text(spec)}"
        )
    elif result.non_inferior:
        every = f" (every one of the {edges} edges tested for promotion)" if edges > 1 else ""
        body = f"{head}: ratio {est} with CS {cs}, within {_margin_text(spec)}: non-inferior{every}"
    else:
        body = (
            f"{head} (ratio {est}, CS {cs}{worst}); e-value{together} {number(e_now)} < {number(threshold)} "
            f"and the CS still reaches past {_margin_text(spec)}: not yet known"
        )
    outcome = _outcome(bool(regressed), result.non_inferior, exposure_ok, blocker)
    reason = _finish(body, outcome, bool(regressed), result.non_inferior, exposure_note, blocker)
    return MetricVerdict(
        metric=spec.name,
        outcome=outcome,
        reason=reason,
        estimate=row.estimate,
        interval=row.interval,
        e_value=e_now,
        p_value=min(1.0, 1.0 / e_peak) if e_peak > 0 else 1.0,
        threshold=threshold,
        stable_n=row.exposure_stable,
        canary_n=row.exposure_canary,
        stable_value=row.rate_stable,
        canary_value=row.rate_canary,
        critical=spec.critical,
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
            f"mean {with_unit(_value(means[1]), unit)} vs {with_unit(_value(means[0]), unit)} (difference "
            f"{with_unit(f'{evidence.estimate:+.3g}', unit)}, CS [{number(lo)}, {number(hi)}] over "
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
