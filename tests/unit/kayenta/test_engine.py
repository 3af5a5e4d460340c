"""The kayenta engine on meshroll's steps: rollback, advance, hold, and bad data."""

from __future__ import annotations

import math

import pytest

from analysis.kayenta import KayentaJudge
from analysis.observations import (
    ArmSample,
    Direction,
    EngineConfig,
    MetricKind,
    MetricPair,
    MetricSpec,
    StepWindow,
)
from analysis.verdicts import Judge, Outcome
from tests.unit.kayenta.steps import buckets, errors, step

ERROR_RATE = MetricSpec("error-rate", MetricKind.ERRORS, critical=True)
LATENCY = MetricSpec("latency", MetricKind.LATENCY)
CONFIG = EngineConfig(metrics=(ERROR_RATE, LATENCY), min_requests=500)
STABLE_RATIOS = (0.010, 0.011, 0.009, 0.012, 0.010, 0.011)
WORSE_RATIOS = (0.050, 0.055, 0.048, 0.052, 0.060, 0.051)
FAST = (0.5, 0.8, 0.95, 0.985, 0.995)


def _latency(stable_shares: tuple[float, ...], canary_shares: tuple[float, ...], canary: float) -> MetricPair:
    return MetricPair(
        ArmSample(requests=900.0, buckets=buckets(stable_shares, 900.0)),
        ArmSample(requests=canary, buckets=buckets(canary_shares, canary)),
    )


def _steps(stable: tuple[float, ...], canary: tuple[float, ...], canary_requests: float = 100.0) -> list[StepWindow]:
    """One step per ratio pair: error ratios as given, identical fast latency in both arms."""
    return [
        step(
            i,
            **{
                "error-rate": errors((1000.0, 1000.0 * s), (canary_requests, canary_requests * c)),
                "latency": _latency(FAST, FAST, canary_requests),
            },
        )
        for i, (s, c) in enumerate(zip(stable, canary, strict=True))
    ]


def test_it_is_a_judge_named_kayenta() -> None:
    judge: Judge = KayentaJudge()
    assert judge.name == "kayenta"


def test_a_clearly_worse_canary_is_rolled_back() -> None:
    decision = KayentaJudge().judge(_steps(STABLE_RATIOS, WORSE_RATIOS), CONFIG)
    assert decision.outcome is Outcome.ROLLBACK
    assert decision.engine == "kayenta"
    assert "error-rate High" in decision.reason
    verdict = decision.metric("error-rate")
    assert verdict is not None
    assert verdict.outcome is Outcome.ROLLBACK
    assert verdict.reason.startswith("canary error ratio is High: Mann-Whitney 98% CI [")
    assert "mean ratio 5.02; a critical failure" in verdict.reason
    assert verdict.interval is not None and verdict.interval[0] > 0.02
    assert verdict.estimate is not None and 0.03 < verdict.estimate < 0.05
    assert verdict.p_value is None
    assert (verdict.stable_n, verdict.canary_n) == (6.0, 6.0)
    assert verdict.stable_value == pytest.approx(sum(STABLE_RATIOS) / 6)
    assert verdict.canary_value == pytest.approx(sum(WORSE_RATIOS) / 6)
    assert verdict.critical


def test_identical_arms_advance_after_enough_points() -> None:
    steps = _steps(STABLE_RATIOS, STABLE_RATIOS, canary_requests=200.0)
    judge = KayentaJudge()
    early = [judge.judge(steps[:n], CONFIG) for n in (1, 2)]
    assert [d.outcome for d in early] == [Outcome.HOLD, Outcome.HOLD]
    assert "only 2 points per arm (3 needed)" in early[1].reason
    decision = judge.judge(steps[:3], CONFIG)
    assert decision.outcome is Outcome.ADVANCE
    assert all(m.outcome is Outcome.ADVANCE for m in decision.metrics)
    assert "Kayenta score 100" in decision.reason


def test_advance_waits_for_the_minimum_canary_requests() -> None:
    steps = _steps(STABLE_RATIOS, STABLE_RATIOS, canary_requests=100.0)
    assert KayentaJudge().judge(steps[:4], CONFIG).outcome is Outcome.HOLD
    assert "served 400 requests (500 needed)" in KayentaJudge().judge(steps[:4], CONFIG).reason
    assert KayentaJudge().judge(steps[:5], CONFIG).outcome is Outcome.ADVANCE


def test_the_decision_counts_the_canarys_requests_over_the_steps_and_each_verdict_its_points() -> None:
    steps = _steps(STABLE_RATIOS, STABLE_RATIOS, canary_requests=200.0)
    for n in (1, 3, 6):
        decision = KayentaJudge().judge(steps[:n], CONFIG)
        assert decision.canary_requests == 200.0 * n, "what the rollout's minRequests gate reads"
        assert {m.canary_n for m in decision.metrics} == {float(n)}, "Kayenta's sample: a point per step"
    final = KayentaJudge().judge(steps[:1], CONFIG, final=True)
    assert final.outcome is Outcome.INCONCLUSIVE and final.canary_requests == 200.0 and not final.blocked


def test_min_points_is_a_constructor_parameter() -> None:
    steps = _steps(STABLE_RATIOS, STABLE_RATIOS, canary_requests=200.0)
    assert KayentaJudge(min_points=5).judge(steps[:4], CONFIG).outcome is Outcome.HOLD
    assert KayentaJudge(min_points=5).judge(steps[:5], CONFIG).outcome is Outcome.ADVANCE


def test_judgements_can_be_spaced_like_kayentas_analysis_interval() -> None:
    steps = _steps(STABLE_RATIOS, WORSE_RATIOS)  # 6 points, clearly worse from the first
    judge = KayentaJudge(interval_points=5)
    between = judge.judge(steps[:3], CONFIG)
    assert between.outcome is Outcome.HOLD and "next Kayenta judgement after step 5" in between.reason
    assert not between.blocked, "waiting for the next judgement is no reason to hold the weights"
    assert judge.judge(steps[:5], CONFIG).outcome is Outcome.ROLLBACK
    assert judge.judge(steps[:6], CONFIG, final=True).outcome is Outcome.ROLLBACK  # the deadline always judges
    assert KayentaJudge().judge(steps[:3], CONFIG).outcome is Outcome.ROLLBACK


def test_a_hold_at_the_deadline_is_inconclusive() -> None:
    decision = KayentaJudge().judge(_steps(STABLE_RATIOS, STABLE_RATIOS)[:2], CONFIG, final=True)
    assert decision.outcome is Outcome.INCONCLUSIVE
    assert decision.reason.startswith("deadline reached: ")


def test_thresholds_are_constructor_parameters() -> None:
    """One of two equally weighted metrics fails (not critically): the score is 50."""
    config = EngineConfig(metrics=(MetricSpec("error-rate", MetricKind.ERRORS), LATENCY), min_requests=100)
    steps = _steps(STABLE_RATIOS, WORSE_RATIOS)
    assert KayentaJudge().judge(steps, config).outcome is Outcome.ROLLBACK
    lenient = KayentaJudge(pass_threshold=50.0, marginal_threshold=40.0).judge(steps, config)
    assert lenient.outcome is Outcome.ADVANCE
    assert "Kayenta score 50" in lenient.reason
    marginal = KayentaJudge(pass_threshold=60.0, marginal_threshold=40.0).judge(steps, config)
    assert marginal.outcome is Outcome.HOLD and "is marginal" in marginal.reason
    assert marginal.adverse, "a score below pass keeps the weights, as Argo pauses on an inconclusive run"


def test_a_rollback_can_wait_for_points() -> None:
    steps = _steps(STABLE_RATIOS, WORSE_RATIOS)[:2]
    assert KayentaJudge().judge(steps, CONFIG).outcome is Outcome.ROLLBACK
    waiting = KayentaJudge(rollback_min_points=3).judge(steps, CONFIG)
    assert waiting.outcome is Outcome.HOLD and waiting.adverse
    assert "on only 2 points per arm (3 needed)" in waiting.reason


def test_a_slower_canary_is_rolled_back_on_latency() -> None:
    slow = (0.1, 0.3, 0.5, 0.7, 0.9)
    steps = [step(i, latency=_latency(FAST, slow, 100.0 + 10 * i)) for i in range(4)]
    config = EngineConfig(metrics=(LATENCY,), min_requests=100)
    decision = KayentaJudge().judge(steps, config)
    assert decision.outcome is Outcome.ROLLBACK
    verdict = decision.metric("latency")
    assert verdict is not None and verdict.reason.startswith("canary p99 latency is High")


def test_a_change_in_the_harmless_direction_passes() -> None:
    cpu = MetricSpec("cpu", MetricKind.GAUGE, direction=Direction.INCREASE)
    steps = [
        step(i, cpu=MetricPair(ArmSample(gauges=(50.0 + i, 52.0 - i)), ArmSample(gauges=(20.0 + i, 21.0))))
        for i in range(4)
    ]
    decision = KayentaJudge().judge(steps, EngineConfig(metrics=(cpu,), min_requests=0))
    assert decision.outcome is Outcome.ADVANCE
    verdict = decision.metric("cpu")
    assert verdict is not None and "but only an increase counts against this metric" in verdict.reason
    assert "lies below ±25% of the estimate" in verdict.reason


def test_a_canary_without_requests_is_no_data_not_a_failure() -> None:
    """Kayenta scores a critical metric without data 0; meshroll holds instead of rolling back."""
    decision = KayentaJudge().judge(_steps(STABLE_RATIOS, STABLE_RATIOS, canary_requests=0.0), CONFIG)
    assert decision.outcome is Outcome.HOLD
    assert "no metric is High or Low (critical metric error-rate is Nodata: no data for the canary)" in decision.reason
    verdict = decision.metric("error-rate")
    assert verdict is not None and verdict.canary_n == 0.0 and "has no data" in verdict.reason


@pytest.mark.parametrize(
    ("canary", "problem"),
    [
        (ArmSample(requests=math.nan, errors=1.0), "step 1 canary: requests is nan"),
        (ArmSample(requests=100.0, errors=-3.0), "step 1 canary: errors is negative (-3)"),
        (ArmSample(requests=100.0, buckets=((0.1, 50.0), (0.5, 40.0), (math.inf, 100.0))), "not monotone at le=0.5"),
    ],
)
def test_bad_data_holds_with_a_reason_naming_the_problem(canary: ArmSample, problem: str) -> None:
    steps = _steps(STABLE_RATIOS, WORSE_RATIOS)[:3]
    bad = StepWindow(1, 60.0, 120.0, 10.0, {**steps[1].metrics, "error-rate": MetricPair(ArmSample(1000.0), canary)})
    decision = KayentaJudge().judge([steps[0], bad, steps[2]], CONFIG)
    assert decision.outcome is Outcome.HOLD and decision.blocked, "it cannot judge the run any more"
    assert problem in decision.reason
    verdict = decision.metric("error-rate")
    assert verdict is not None and verdict.outcome is Outcome.HOLD and problem in verdict.reason


def test_nothing_to_judge_holds() -> None:
    assert KayentaJudge().judge([], CONFIG).outcome is Outcome.HOLD
    assert KayentaJudge().judge(_steps(STABLE_RATIOS, STABLE_RATIOS), EngineConfig(metrics=())).outcome is Outcome.HOLD


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="marginal threshold 90"):
        KayentaJudge(pass_threshold=80.0, marginal_threshold=90.0)
    with pytest.raises(ValueError, match="at least 1"):
        KayentaJudge(min_points=0)
