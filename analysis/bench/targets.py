"""The numbers the project must show, checked against a benchmark result (stats.md §5.6)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analysis.bench.measures import ORACLE, ClassSummary, EngineSummary, detected_within

if TYPE_CHECKING:
    from analysis.bench.replay import RunRecord
    from analysis.bench.runner import BenchResult

MAX_FALSE_ROLLBACK = 0.01
TTD_FRACTION_OF_KAYENTA = 0.5
MAX_ORACLE_RATIO = 1.5
MAX_DECISION_SECONDS = 0.050


@dataclass(frozen=True)
class TargetCheck:
    target: str
    detail: str
    met: bool | None  # None: not measured (an engine or a class is missing)


def _engine(result: BenchResult, name: str) -> EngineSummary | None:
    return next((e for e in result.engine_summaries if e.engine == name), None)


def _classes(result: BenchResult, name: str, regression: bool) -> dict[str, ClassSummary]:
    return {s.scenario_class: s for s in result.summaries if s.engine == name and s.regression == regression}


def _false_rollback(result: BenchResult, ours: str) -> TargetCheck:
    target = f"{ours} false rollback <= {MAX_FALSE_ROLLBACK:g} on A/A (incl. AR(1), diurnal)"
    mine = _engine(result, ours)
    if mine is None or mine.false_rollback.n == 0:
        return TargetCheck(target, "no A/A runs", None)
    worst = max(
        _classes(result, ours, False).values(),
        key=lambda s: s.false_rollback.value if s.false_rollback else 0.0,
        default=None,
    )
    fr = mine.false_rollback
    low, high = fr.interval
    worst_text = ""
    if worst is not None and worst.false_rollback is not None:
        worst_text = f"; worst class {worst.scenario_class} {worst.false_rollback.value:.3f}"
    return TargetCheck(
        target,
        f"{fr.value:.4f} [{low:.4f}, {high:.4f}] over {fr.n} runs{worst_text}",
        fr.value <= MAX_FALSE_ROLLBACK,
    )


def _time_to_detect(result: BenchResult, ours: str, peer: str) -> list[TargetCheck]:
    mine, theirs = _engine(result, ours), _engine(result, peer)
    checks: list[TargetCheck] = []
    for kind in ("errors", "latency"):
        target = (
            f"{ours} median TTD <= {TTD_FRACTION_OF_KAYENTA:g} x {peer}'s on {kind} classes, "
            f"at a false-rollback rate <= {peer}'s"
        )
        if mine is None or theirs is None:
            checks.append(TargetCheck(target, f"{peer if theirs is None else ours} not run", None))
            continue
        a = mine.ttd_median_seconds_errors if kind == "errors" else mine.ttd_median_seconds_latency
        b = theirs.ttd_median_seconds_errors if kind == "errors" else theirs.ttd_median_seconds_latency
        fr_ok = mine.false_rollback.value <= theirs.false_rollback.value
        if a is None:
            checks.append(TargetCheck(target, f"{ours} detected nothing", False))
            continue
        ttd_ok = b is None or a <= TTD_FRACTION_OF_KAYENTA * b
        detail = (
            f"{a:.0f} s vs {'none detected' if b is None else f'{b:.0f} s'}; false rollback "
            f"{mine.false_rollback.value:.3f} vs {theirs.false_rollback.value:.3f}"
        )
        oracle = _engine(result, ORACLE)
        if oracle is not None and b is not None:
            o = oracle.ttd_median_seconds_errors if kind == "errors" else oracle.ttd_median_seconds_latency
            if o is not None:
                verdict = "meets it" if o <= TTD_FRACTION_OF_KAYENTA * b else "does not meet it either"
                detail += f"; the oracle SPRT (the lower bound) {o:.0f} s {verdict}"
        paired = _paired_ttd(result, ours, peer, kind)
        if paired is not None:
            detail += f"; on the {paired[2]} runs both detected: {paired[0]:.0f} s vs {paired[1]:.0f} s"
            pairs = [
                f"{cls} {p[0]:.0f} vs {p[1]:.0f} s ({p[2]})"
                for cls in _classes(result, ours, True)
                if (p := _paired_ttd(result, ours, peer, kind, cls)) is not None
            ]
            detail += f" (per class: {', '.join(pairs)})"
        if b is not None:
            detail += "; " + _share_within(result, ours, peer, kind, (TTD_FRACTION_OF_KAYENTA * b, b))
        per_class = _per_class_ttd_failures(result, ours, peer, kind)
        if per_class:
            detail += f"; per class not met: {per_class}"
        checks.append(TargetCheck(target, detail, ttd_ok and fr_ok))
    return checks


def _paired_ttd(
    result: BenchResult, ours: str, peer: str, kind: str, only: str | None = None
) -> tuple[float, float, int] | None:
    """Median time to detect of each engine on the regression runs both detected (of class ``only``)."""
    errors = set(result.error_classes)

    def detected(engine: str) -> dict[str, float]:
        return {
            r.scenario: r.seconds_to_detect
            for r in result.records
            if r.engine == engine
            and r.detected
            and (r.scenario_class in errors) == (kind == "errors")
            and (only is None or r.scenario_class == only)
        }

    mine, theirs = detected(ours), detected(peer)
    both = sorted(mine.keys() & theirs.keys())
    if not both:
        return None
    return (
        statistics.median(mine[s] for s in both),
        statistics.median(theirs[s] for s in both),
        len(both),
    )


def _share_within(result: BenchResult, ours: str, peer: str, kind: str, horizons: tuple[float, ...]) -> str:
    """Of all regression runs of ``kind``, the share each engine detected within each horizon (no selection)."""
    errors = set(result.error_classes)

    def runs(engine: str) -> list[RunRecord]:
        return [
            r
            for r in result.records
            if r.engine == engine and r.regression and (r.scenario_class in errors) == (kind == "errors")
        ]

    mine, theirs = runs(ours), runs(peer)
    shares = [
        f"within {h:.0f} s {detected_within(mine, h).value:.3f} vs {detected_within(theirs, h).value:.3f}"
        for h in horizons
    ]
    return f"of all {len(mine)} runs detected {', '.join(shares)}"


def _per_class_ttd_failures(result: BenchResult, ours: str, peer: str, kind: str) -> str:
    errors = set(result.error_classes)
    mine, theirs = _classes(result, ours, True), _classes(result, peer, True)
    bad: list[str] = []
    for cls, s in mine.items():
        if (cls in errors) != (kind == "errors") or cls not in theirs:
            continue
        a, b = s.ttd_median_seconds, theirs[cls].ttd_median_seconds
        if a is None or (b is not None and a > TTD_FRACTION_OF_KAYENTA * b):
            bad.append(f"{cls} {'-' if a is None else f'{a:.0f}'} vs {'-' if b is None else f'{b:.0f}'} s")
    return ", ".join(bad)


def _blast_radius(result: BenchResult, ours: str) -> TargetCheck:
    target = f"{ours} has the smallest blast radius (mean, every regression class, oracle aside)"
    if not _classes(result, ours, True):
        return TargetCheck(target, f"{ours} not run on regressions", None)
    losses = _blast_losses(result, ours)
    detail = _pooled_blast(result, ours) + "; per class: " + ("; ".join(losses) or "smallest on every class")
    if losses and _classes(result, ORACLE, True):
        oracle_losses = _blast_losses(result, ORACLE, ours)
        detail += (
            f"; the oracle SPRT (the lower bound) loses too on {len(oracle_losses)} of these classes"
            if oracle_losses
            else "; the oracle SPRT would meet it"
        )
    if losses:
        matched = _blast_losses(result, ours, max_false_rollback=MAX_FALSE_ROLLBACK)
        detail += (
            f"; among engines with A/A false rollback <= {MAX_FALSE_ROLLBACK:g} (stats.md 5.6: at matched "
            f"false-rollback rates): {'; '.join(matched) if matched else 'smallest on every class'}"
        )
    return TargetCheck(target, detail, not losses)


def _pooled_blast(result: BenchResult, ours: str) -> str:
    """The mean over every regression run (the per-engine table), each engine's, smallest first."""
    pooled = sorted(
        (e.blast_radius_mean, e.engine)
        for e in result.engine_summaries
        if e.engine != ORACLE and e.blast_radius_mean is not None
    )
    if not pooled:
        return "pooled: -"
    rank = next((i for i, (_, engine) in enumerate(pooled) if engine == ours), None)
    where = "the smallest" if rank == 0 else f"number {rank + 1 if rank is not None else '-'}"
    shown = ", ".join(f"{engine} {mean:.1f}" for mean, engine in pooled)
    return f"pooled over all regression runs, {ours}'s is {where} of the engines, oracle aside ({shown})"


def _blast_losses(
    result: BenchResult, engine: str, also_aside: str = "", max_false_rollback: float | None = None
) -> list[str]:
    """The classes where an engine other than ``engine``, the oracle and ``also_aside`` (with an A/A
    false-rollback rate of at most ``max_false_rollback``, when given) has a smaller blast radius."""
    losses: list[str] = []
    aside = {engine, ORACLE, also_aside}
    allowed = {
        e.engine
        for e in result.engine_summaries
        if max_false_rollback is None or (e.false_rollback.n > 0 and e.false_rollback.value <= max_false_rollback)
    }
    for cls, s in _classes(result, engine, True).items():
        rivals = [
            r
            for r in result.summaries
            if r.scenario_class == cls
            and r.engine not in aside
            and r.engine in allowed
            and r.blast_radius_mean is not None
        ]
        best = min(rivals, key=lambda r: r.blast_radius_mean or 0.0, default=None)
        if (
            best is not None
            and s.blast_radius_mean is not None
            and best.blast_radius_mean is not None
            and best.blast_radius_mean < s.blast_radius_mean
        ):
            rival = _engine(result, best.engine)
            fr = f" (A/A false rollback {rival.false_rollback.value:.3f})" if rival else ""
            losses.append(f"{cls}: {best.engine}{fr} {best.blast_radius_mean:.1f} < {s.blast_radius_mean:.1f}")
    return losses


def _oracle_ratio(result: BenchResult, ours: str) -> TargetCheck:
    target = f"{ours} expected requests to detect <= {MAX_ORACLE_RATIO:g} x the oracle SPRT's on every regression class"
    mine = _classes(result, ours, True)
    if not mine or ORACLE not in result.engines:
        return TargetCheck(target, "needs both engines", None)
    ratios = {cls: s.oracle_ratio for cls, s in mine.items()}
    text = ", ".join(f"{cls} {'-' if r is None else f'{r:.2f}'}" for cls, r in ratios.items())
    met = all(r is not None and r <= MAX_ORACLE_RATIO for r in ratios.values())
    return TargetCheck(target, text, met)


def _decision_time(result: BenchResult, ours: str) -> TargetCheck:
    target = f"{ours}: one decision over 20 metrics x 60 steps < {MAX_DECISION_SECONDS * 1000:g} ms"
    seconds = result.decision_seconds.get(ours)
    if seconds is None:
        return TargetCheck(target, "not measured", None)
    return TargetCheck(target, f"{seconds * 1000:.1f} ms (median)", seconds < MAX_DECISION_SECONDS)


def check_targets(result: BenchResult, ours: str = "sequential", peer: str = "kayenta") -> list[TargetCheck]:
    return [
        _false_rollback(result, ours),
        *_time_to_detect(result, ours, peer),
        _blast_radius(result, ours),
        _oracle_ratio(result, ours),
        _decision_time(result, ours),
    ]
