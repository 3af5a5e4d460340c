"""The naive engine peeks; the oracle SPRT detects what it is told about."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binom

from analysis.bench.baselines import NaiveJudge, OracleSprtJudge, conditional_binomial_llr
from analysis.bench.generator import SMALLEST_ERROR_RATIO, GeneratorSettings, generate
from analysis.bench.measures import Rate
from analysis.bench.replay import engine_config, replay
from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.verdicts import Outcome

STEADY = GeneratorSettings(rps_range=(200.0, 200.0), error_rate_range=(0.005, 0.005))
ERRORS_ONLY = EngineConfig(metrics=(MetricSpec("errors", MetricKind.ERRORS),), alpha=0.01)


def test_naive_engine_peeks_its_false_rollback_rate_over_many_looks_exceeds_alpha() -> None:
    judge = NaiveJudge(alpha=0.01)
    runs = [replay(generate("aa-independent", (11, i), STEADY), judge, ERRORS_ONLY) for i in range(300)]
    false_rollbacks = Rate(sum(r.rolled_back for r in runs), len(runs))
    low, _ = false_rollbacks.interval
    assert low > judge.alpha  # the 30 looks inflate the 1% test well beyond 1%


def _step(index: int, canary: tuple[float, float], stable: tuple[float, float]) -> StepWindow:
    return StepWindow(
        index,
        60.0 * index,
        60.0 * (index + 1),
        10.0,
        {"errors": MetricPair(stable=ArmSample(stable[0], stable[1]), canary=ArmSample(canary[0], canary[1]))},
    )


def test_naive_engine_rolls_back_on_a_clear_difference_and_advances_otherwise() -> None:
    judge = NaiveJudge()
    bad = judge.judge([_step(0, (1000, 30), (9000, 90))], ERRORS_ONLY)
    assert bad.outcome is Outcome.ROLLBACK
    fine = judge.judge([_step(0, (1000, 10), (9000, 90))], ERRORS_ONLY)
    assert fine.outcome is Outcome.ADVANCE
    early = judge.judge([_step(0, (100, 1), (900, 9))], ERRORS_ONLY, final=True)
    assert early.outcome is Outcome.INCONCLUSIVE


def test_conditional_binomial_llr_is_the_binomial_log_likelihood_ratio() -> None:
    r_c, r_b, b_c, b_b, psi = 500.0, 4500.0, 12.0, 40.0, 2.0
    p1 = psi * r_c / (psi * r_c + r_b)
    p0 = r_c / (r_c + r_b)
    expected = binom.logpmf(b_c, b_c + b_b, p1) - binom.logpmf(b_c, b_c + b_b, p0)
    assert conditional_binomial_llr(b_c, b_b, r_c, r_b, psi) == pytest.approx(expected)
    assert conditional_binomial_llr(0, 0, r_c, r_b, psi) == 0.0


def test_oracle_sprt_detects_a_fivefold_error_regression() -> None:
    runs = []
    for i in range(40):
        scenario = generate("errors-x5", (12, i), STEADY)
        runs.append(replay(scenario, OracleSprtJudge.for_scenario(scenario), engine_config(scenario)))
    assert all(r.detected for r in runs)
    assert max(r.steps_to_detect for r in runs) <= 10


def test_oracle_sprt_is_told_the_truth_and_the_smallest_class_on_healthy_canaries() -> None:
    latency = generate("latency+25%-mid", 1, STEADY)
    oracle = OracleSprtJudge.for_scenario(latency)
    assert oracle.metric == "latency" and oracle.kind is MetricKind.LATENCY
    assert oracle.edge == latency.effect.edge and oracle.psi1 == latency.effect.ratio
    assert oracle.onset_step == latency.effect.onset_step > 0
    healthy = OracleSprtJudge.for_scenario(generate("aa-diurnal", 1, STEADY))
    assert healthy.psi1 == SMALLEST_ERROR_RATIO and healthy.metric == "errors"


def test_oracle_sprt_rarely_rolls_back_healthy_canaries() -> None:
    rollbacks = 0
    for i in range(100):
        scenario = generate("aa-independent", (13, i), STEADY)
        rollbacks += replay(scenario, OracleSprtJudge.for_scenario(scenario), engine_config(scenario)).rolled_back
    assert rollbacks <= 5  # alpha = 1%; Ville's inequality bounds it under any number of looks


def test_oracle_llr_reaches_the_rollback_level_only_with_evidence() -> None:
    judge = OracleSprtJudge("errors", MetricKind.ERRORS, psi1=5.0)
    config = ERRORS_ONLY
    assert judge.judge([_step(0, (1000, 5), (9000, 45))], config).outcome is Outcome.ADVANCE  # no change
    assert judge.judge([_step(0, (1000, 15), (9000, 45))], config).outcome is Outcome.HOLD
    strong = judge.judge([_step(0, (1000, 25), (9000, 45))], config)
    assert strong.outcome is Outcome.ROLLBACK
    assert strong.metrics[0].e_value is not None and strong.metrics[0].e_value >= 1 / config.alpha
    assert math.isclose(strong.metrics[0].threshold or 0.0, 100.0)


def test_oracle_tests_the_engines_margin_against_the_truth() -> None:
    # psi0 = 1 + margin: the same null hypothesis the sequential engine rolls back against.
    margin = EngineConfig(metrics=(MetricSpec("errors", MetricKind.ERRORS, margin=0.5),), alpha=0.01)
    judge = OracleSprtJudge("errors", MetricKind.ERRORS, psi1=5.0)
    assert judge.null(margin) == 1.5 and judge.null(ERRORS_ONLY) == 1.0 + ERRORS_ONLY.metrics[0].margin
    step = [_step(0, (1000, 15), (9000, 45))]  # canary rate 3x the stable's
    at_margin, no_margin = judge.judge(step, margin), judge.judge(step, EngineConfig(metrics=(), alpha=0.01))
    assert (at_margin.metrics[0].e_value or 0.0) < (no_margin.metrics[0].e_value or 0.0)
    # Truth within the margin: the oracle falls back to the SPRT of no change.
    assert OracleSprtJudge("errors", MetricKind.ERRORS, psi1=1.2).null(margin) == 1.0
