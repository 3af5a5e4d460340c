"""An absolute margin on the error rate: rare errors can be proven harmless long before a ratio can."""

from __future__ import annotations

import numpy as np

from analysis.observations import EngineConfig, MetricKind, MetricSpec, StepWindow
from analysis.sequential.absolute import rate_lower_bound, rate_upper_bound
from analysis.sequential.engine import SequentialJudge
from analysis.verdicts import Outcome
from tests.unit.engine.helpers import errors_pair, step

RATIO_ONLY = MetricSpec("errors", MetricKind.ERRORS, margin=0.1)
ABSOLUTE = MetricSpec("errors", MetricKind.ERRORS, margin=0.1, absolute_margin=0.01)


def rare_error_steps(rng: np.random.Generator, steps: int, stable_rate: float, canary_rate: float) -> list[StepWindow]:
    windows = []
    for i in range(steps):
        r_b, r_c = 2700, 300
        pair = errors_pair((r_b, rng.binomial(r_b, stable_rate)), (r_c, rng.binomial(r_c, canary_rate)))
        windows.append(step(i, {"errors": pair}))
    return windows


def test_rare_errors_are_proven_within_one_point_where_a_ratio_stays_unknown() -> None:
    windows = rare_error_steps(np.random.default_rng(7), 10, 0.002, 0.002)
    config = EngineConfig(metrics=(ABSOLUTE,), min_requests=500)
    decision = SequentialJudge().judge(windows, config)
    assert decision.outcome is Outcome.ADVANCE
    assert "absolute margin" in decision.metrics[0].reason
    ratio_only = SequentialJudge().judge(windows, EngineConfig(metrics=(RATIO_ONLY,), min_requests=500))
    assert ratio_only.outcome is Outcome.HOLD


def test_a_canary_adding_more_than_the_margin_is_never_promoted_on_it() -> None:
    rng = np.random.default_rng(11)
    config = EngineConfig(metrics=(ABSOLUTE,), min_requests=0)
    promoted = 0
    for _ in range(100):
        windows = rare_error_steps(rng, 12, 0.002, 0.012)  # adds exactly the 1-point margin
        judge = SequentialJudge()
        if any(judge.judge(windows[:k], config).outcome is Outcome.ADVANCE for k in range(1, 13)):
            promoted += 1
    assert promoted <= 5 + 4, f"promoted {promoted}/100 at the margin; alpha_promote is 5% (with MC slack)"


def test_the_rate_bound_covers_the_true_rate_at_every_look() -> None:
    rng = np.random.default_rng(3)
    misses = 0
    for _ in range(300):
        draws = rng.random(5000) < 0.003
        bad = np.cumsum(draws)
        looks = range(100, 5001, 100)
        if any(
            not rate_lower_bound(float(bad[n - 1]), float(n), 0.05)
            <= 0.003
            <= rate_upper_bound(float(bad[n - 1]), float(n), 0.05)
            for n in looks
        ):
            misses += 1
    assert misses <= 15 + 8, f"{misses}/300 paths left the 95% confidence sequence"
