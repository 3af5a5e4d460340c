"""Count metrics with several rows (a histogram's edges): the metric's evidence is their mean."""

from __future__ import annotations

import math

import numpy as np

from analysis.observations import MetricKind, MetricSpec
from analysis.sequential.counts import CountJob, CountResult, judge_counts
from tests.unit.engine.test_evidence import simulate

LATENCY = MetricSpec("latency", MetricKind.LATENCY, margin=0.05)
ALPHA_M = 0.01


def _job(rows: int, bad_stable: list[float], bad_canary: list[float], requests: float = 10_000.0) -> CountJob:
    steps = len(bad_stable)
    return CountJob(
        LATENCY,
        ALPHA_M,
        tuple(f"{100 * (k + 1)}" for k in range(rows)),
        np.tile(np.array(bad_stable, dtype=float), (rows, 1)),
        np.tile(np.array(bad_canary, dtype=float), (rows, 1)),
        np.full(steps, 9 * requests),
        np.full(steps, requests),
        np.ones((rows, steps), dtype=bool),
    )


def _judge(job: CountJob) -> CountResult:
    return judge_counts([job], alpha_promote=0.05)[0]


def test_edges_that_see_the_same_slowdown_prove_it_together() -> None:
    # Find a slowdown one edge proves on its own (e >= 1/alpha) but not at a Bonferroni split of 2.
    for extra in range(0, 200):
        one = _judge(_job(1, [900.0] * 3, [100.0 + extra] * 3))
        if one.peak_e_value >= 1 / ALPHA_M:
            break
    assert 1 / ALPHA_M <= one.peak_e_value < 2 / ALPHA_M, one.peak_e_value
    two = _judge(_job(2, [900.0] * 3, [100.0 + extra] * 3))
    assert two.regressed  # the mean of two equal e-values is that e-value
    assert all(row.peak_e_value < row.threshold for row in two.rows)  # Bonferroni would still hold
    assert math.isclose(two.peak_e_value, one.peak_e_value, rel_tol=1e-9)


def test_an_edge_without_evidence_dilutes_but_never_hides_a_strong_one() -> None:
    strong = _job(1, [900.0] * 4, [300.0] * 4)
    quiet = _job(1, [900.0] * 4, [100.0] * 4)
    both = CountJob(
        LATENCY,
        ALPHA_M,
        ("100", "250"),
        np.vstack([strong.bad_stable, quiet.bad_stable]),
        np.vstack([strong.bad_canary, quiet.bad_canary]),
        strong.exposure_stable,
        strong.exposure_canary,
        np.ones((2, 4), dtype=bool),
    )
    alone, together = _judge(strong), _judge(both)
    assert together.regressed and together.peak_e_value >= alone.peak_e_value / 2 * (1 - 1e-9)


def test_the_mean_over_four_edges_keeps_false_rollbacks_below_alpha() -> None:
    # A/A at the null boundary (the canary exactly 1 + margin slower at every edge), four edges,
    # 400 runs x 30 looks. A large alpha (0.3) makes the bound bite: the sum of the four e-values,
    # with no division, would cross 1/alpha in about 45% of these runs.
    alpha, runs, steps = 0.3, 400, 30
    hits = 0
    for seed in range(4):
        rates = (0.3, 0.1, 0.03, 0.01)
        series = [simulate(100 + seed, runs // 4, steps, rate, 0.1, 1.05, rps=500.0) for rate in rates]
        for r in range(runs // 4):
            job = CountJob(
                LATENCY,
                alpha,
                ("100", "250", "500", "1000"),
                np.vstack([s.total_bad[r] - s.bad_canary[r] for s in series]),
                np.vstack([s.bad_canary[r] for s in series]),
                series[0].exposure_stable[r],
                series[0].exposure_canary[r],
                np.ones((4, steps), dtype=bool),
            )
            hits += _judge(job).regressed
    assert hits / runs <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
