"""What the benchmark measures, per engine and scenario class, from the replays' run records."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from analysis.bench.replay import RunOutcome, RunRecord

ORACLE = "oracle"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Rate:
    """``count`` out of ``n``, with a Wilson 95% interval."""

    count: int
    n: int

    @property
    def value(self) -> float:
        return self.count / self.n if self.n else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.count, self.n)


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(nan, nan)`` when n = 0)."""
    if n <= 0:
        return math.nan, math.nan
    p = count / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if count <= 0 else max(0.0, centre - half)  # exact ends: rounding leaves ~1e-18 otherwise
    high = 1.0 if count >= n else min(1.0, centre + half)
    return low, high


def _quantile(values: Sequence[float], q: float) -> float | None:
    return float(np.quantile(np.asarray(values, dtype=np.float64), q)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


@dataclass(frozen=True)
class ClassSummary:
    """One engine on one scenario class. Fields that do not apply to the class are None.

    - ``false_rollback``: healthy classes, runs that ever rolled back.
    - ``missed``: regression classes, runs with no rollback by the end (promoted or inconclusive).
    - ``promoted``: on a regression class, the runs that let the regression through to all the traffic.
    - ``early_rollback``: regression classes, rollbacks before the regression's onset.
    - time to detect: from the onset to the rollback, over detected runs (steps and seconds).
    - ``blast_radius_*``: excess bad requests the canary served until the rollback; a run that never
      rolled back (promoted or inconclusive) counts every step of the scenario, all the traffic
      once promoted (all runs).
    - ``requests_to_detect``: mean canary + stable requests until the rollback (detected runs);
      ``oracle_ratio`` is the ratio of this engine's to the oracle SPRT's mean on the scenarios
      both detected.
    - ``time_to_promote_*``: healthy classes, over promoted runs.
    """

    engine: str
    scenario_class: str
    regression: bool
    runs: int
    promoted: Rate
    inconclusive: Rate
    false_rollback: Rate | None = None
    missed: Rate | None = None
    early_rollback: Rate | None = None
    ttd_median_steps: float | None = None
    ttd_p90_steps: float | None = None
    ttd_median_seconds: float | None = None
    ttd_p90_seconds: float | None = None
    blast_radius_mean: float | None = None
    blast_radius_median: float | None = None
    requests_to_detect: float | None = None
    oracle_ratio: float | None = None
    oracle_pairs: int = 0
    time_to_promote_median_steps: float | None = None
    time_to_promote_median_seconds: float | None = None
    engine_errors: int = 0


def _count(records: Iterable[RunRecord], outcome: RunOutcome) -> int:
    return sum(1 for r in records if r.outcome is outcome)


def summarize_class(
    engine: str, scenario_class: str, records: Sequence[RunRecord], oracle: dict[str, RunRecord]
) -> ClassSummary:
    """Summarise one engine's records on one class; ``oracle`` maps scenario names to the oracle's runs."""
    n = len(records)
    regression = any(r.regression for r in records)
    promoted = Rate(_count(records, RunOutcome.PROMOTE), n)
    inconclusive = Rate(_count(records, RunOutcome.INCONCLUSIVE), n)
    errors = sum(r.engine_errors for r in records)
    if not regression:
        promoted_steps = [float(r.steps_run) for r in records if r.outcome is RunOutcome.PROMOTE]
        promoted_seconds = [r.seconds_run for r in records if r.outcome is RunOutcome.PROMOTE]
        return ClassSummary(
            engine,
            scenario_class,
            False,
            n,
            promoted,
            inconclusive,
            false_rollback=Rate(_count(records, RunOutcome.ROLLBACK), n),
            time_to_promote_median_steps=_quantile(promoted_steps, 0.5),
            time_to_promote_median_seconds=_quantile(promoted_seconds, 0.5),
            engine_errors=errors,
        )
    detected = [r for r in records if r.detected]
    steps = [float(r.steps_to_detect) for r in detected]
    seconds = [r.seconds_to_detect for r in detected]
    blast = [r.blast_radius for r in records]
    pairs = [(r, oracle[r.scenario]) for r in detected if r.scenario in oracle and oracle[r.scenario].detected]
    ratio = None
    if pairs:
        oracle_mean = float(np.mean([o.requests for _, o in pairs]))
        engine_mean = float(np.mean([r.requests for r, _ in pairs]))
        ratio = engine_mean / oracle_mean if oracle_mean > 0 else None
    return ClassSummary(
        engine,
        scenario_class,
        True,
        n,
        promoted,
        inconclusive,
        missed=Rate(sum(1 for r in records if not r.rolled_back), n),
        early_rollback=Rate(sum(1 for r in records if r.rolled_back and not r.detected), n),
        ttd_median_steps=_quantile(steps, 0.5),
        ttd_p90_steps=_quantile(steps, 0.9),
        ttd_median_seconds=_quantile(seconds, 0.5),
        ttd_p90_seconds=_quantile(seconds, 0.9),
        blast_radius_mean=_mean(blast),
        blast_radius_median=_quantile(blast, 0.5),
        requests_to_detect=_mean([r.requests for r in detected]),
        oracle_ratio=ratio,
        oracle_pairs=len(pairs),
        engine_errors=errors,
    )


def summarize(records: Sequence[RunRecord], class_order: Sequence[str] = ()) -> list[ClassSummary]:
    """Per engine and class, engines in first-seen order, classes in ``class_order`` then first-seen."""
    grouped: dict[tuple[str, str], list[RunRecord]] = defaultdict(list)
    engines: list[str] = []
    classes: list[str] = list(class_order)
    for r in records:
        grouped[(r.engine, r.scenario_class)].append(r)
        if r.engine not in engines:
            engines.append(r.engine)
        if r.scenario_class not in classes:
            classes.append(r.scenario_class)
    oracle = {r.scenario: r for r in records if r.engine == ORACLE}
    return [
        summarize_class(engine, cls, grouped[(engine, cls)], oracle)
        for engine in engines
        for cls in classes
        if grouped.get((engine, cls))
    ]


@dataclass(frozen=True)
class EngineSummary:
    """One engine pooled over classes: the point it puts on the Pareto plot."""

    engine: str
    false_rollback: Rate  # over every healthy run
    ttd_median_seconds: float | None  # over every detected regression run
    ttd_median_seconds_errors: float | None
    ttd_median_seconds_latency: float | None
    missed: Rate  # over every regression run
    blast_radius_mean: float | None
    promoted: Rate  # regression runs promoted: a regression let through to all the traffic


def summarize_engines(records: Sequence[RunRecord], error_classes: set[str]) -> list[EngineSummary]:
    """Pool each engine's runs; ``error_classes`` names the classes whose effect is on errors."""
    out: list[EngineSummary] = []
    for engine in dict.fromkeys(r.engine for r in records):
        mine = [r for r in records if r.engine == engine]
        healthy = [r for r in mine if not r.regression]
        regressions = [r for r in mine if r.regression]
        detected = [r for r in regressions if r.detected]
        out.append(
            EngineSummary(
                engine=engine,
                false_rollback=Rate(sum(1 for r in healthy if r.rolled_back), len(healthy)),
                ttd_median_seconds=_quantile([r.seconds_to_detect for r in detected], 0.5),
                ttd_median_seconds_errors=_quantile(
                    [r.seconds_to_detect for r in detected if r.scenario_class in error_classes], 0.5
                ),
                ttd_median_seconds_latency=_quantile(
                    [r.seconds_to_detect for r in detected if r.scenario_class not in error_classes], 0.5
                ),
                missed=Rate(sum(1 for r in regressions if not r.rolled_back), len(regressions)),
                blast_radius_mean=_mean([r.blast_radius for r in regressions]),
                promoted=Rate(sum(1 for r in regressions if r.outcome is RunOutcome.PROMOTE), len(regressions)),
            )
        )
    return out


TRAFFIC_BANDS: tuple[tuple[str, float, float], ...] = (
    ("< 10 req/s", 0.0, 10.0),
    ("10-100 req/s", 10.0, 100.0),
    (">= 100 req/s", 100.0, math.inf),
)


@dataclass(frozen=True)
class BandSummary:
    """One engine on the scenarios of one traffic band, pooled over classes."""

    engine: str
    band: str
    false_rollback: Rate  # healthy runs that rolled back
    promoted: Rate  # healthy runs promoted
    detected_errors: Rate  # error-class runs detected after the onset
    ttd_median_seconds_errors: float | None
    detected_latency: Rate  # latency-class runs detected after the onset
    ttd_median_seconds_latency: float | None


def summarize_bands(records: Sequence[RunRecord], error_classes: set[str]) -> list[BandSummary]:
    """Per engine and traffic band (the scenario's mean request rate): what traffic makes possible."""
    out: list[BandSummary] = []
    for engine in dict.fromkeys(r.engine for r in records):
        for band, low, high in TRAFFIC_BANDS:
            mine = [r for r in records if r.engine == engine and low <= r.rps < high]
            healthy = [r for r in mine if not r.regression]
            errors = [r for r in mine if r.regression and r.scenario_class in error_classes]
            latency = [r for r in mine if r.regression and r.scenario_class not in error_classes]
            out.append(
                BandSummary(
                    engine=engine,
                    band=band,
                    false_rollback=Rate(sum(r.rolled_back for r in healthy), len(healthy)),
                    promoted=Rate(sum(r.outcome is RunOutcome.PROMOTE for r in healthy), len(healthy)),
                    detected_errors=Rate(sum(r.detected for r in errors), len(errors)),
                    ttd_median_seconds_errors=_quantile([r.seconds_to_detect for r in errors if r.detected], 0.5),
                    detected_latency=Rate(sum(r.detected for r in latency), len(latency)),
                    ttd_median_seconds_latency=_quantile([r.seconds_to_detect for r in latency if r.detected], 0.5),
                )
            )
    return out


DETECTION_HORIZONS_SECONDS: tuple[float, ...] = (120.0, 300.0, 600.0, 1200.0)
"""How long after the onset ``detection_curves`` looks: 2, 5, 10 and 20 minutes."""


@dataclass(frozen=True)
class DetectionCurve:
    """One engine's share of *all* regression runs of one kind detected within each horizon.

    A median time to detect is taken over the runs an engine detected, so an engine that detects
    only the easy (busy) runs gets a short median; here a run detected late or never counts as not
    detected within the horizon, so engines are compared on the same runs.
    """

    engine: str
    kind: str  # "errors" or "latency"
    within: tuple[Rate, ...]  # one per DETECTION_HORIZONS_SECONDS
    by_deadline: Rate


def detected_within(records: Sequence[RunRecord], seconds: float) -> Rate:
    """Of ``records`` (regression runs), those rolled back at most ``seconds`` after the onset."""
    return Rate(sum(1 for r in records if r.detected and r.seconds_to_detect <= seconds), len(records))


def detection_curves(records: Sequence[RunRecord], error_classes: set[str]) -> list[DetectionCurve]:
    """Per engine and kind (errors, latency): the share detected within each horizon, and by the deadline."""
    out: list[DetectionCurve] = []
    for engine in dict.fromkeys(r.engine for r in records):
        for kind in ("errors", "latency"):
            runs = [
                r
                for r in records
                if r.engine == engine and r.regression and (r.scenario_class in error_classes) == (kind == "errors")
            ]
            if runs:
                within = tuple(detected_within(runs, h) for h in DETECTION_HORIZONS_SECONDS)
                out.append(DetectionCurve(engine, kind, within, Rate(sum(r.detected for r in runs), len(runs))))
    return out
