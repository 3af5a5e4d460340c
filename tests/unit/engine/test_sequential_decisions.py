"""How the sequential engine behaves on simulated canaries (seeded, so every run is the same)."""

from __future__ import annotations

import re
import statistics

from analysis.observations import Direction, MetricKind, MetricSpec
from analysis.sequential import SequentialJudge, rollback_levels
from analysis.sequential.workload import Arms
from analysis.verdicts import Outcome

from .helpers import ERRORS, GAUGE, LATENCY, config, first_look, run

JUDGE = SequentialJudge()


def test_an_aa_canary_is_not_rolled_back_over_60_looks() -> None:
    # One call on all 60 steps answers "rolled back at any of the 60 looks": rollback uses the
    # e-process's running maximum (checked against per-look calls in the next test).
    cfg = config(ERRORS, alpha=0.01)
    rolled = sum(
        JUDGE.judge(run(seed, 60, arms=Arms(error_rate=0.02)), cfg).outcome is Outcome.ROLLBACK for seed in range(200)
    )
    assert rolled <= 6  # alpha = 1% of 200 is 2; Binomial(200, 0.01) exceeds 6 with probability < 0.001


def test_one_call_on_all_steps_rolls_back_exactly_when_some_look_would_have() -> None:
    cfg = config(ERRORS, alpha=0.05)
    for seed in range(6):
        steps = run(seed, 25, arms=Arms(error_rate=0.01, error_ratio=1.6))
        first = first_look(JUDGE, steps, cfg, Outcome.ROLLBACK)
        whole = JUDGE.judge(steps, cfg).outcome is Outcome.ROLLBACK
        assert whole == (first is not None)
        if first is not None:  # and once rolled back, every later look says so
            assert all(JUDGE.judge(steps[:k], cfg).outcome is Outcome.ROLLBACK for k in range(first, len(steps) + 1))


def test_a_5x_error_regression_is_rolled_back_within_a_few_steps() -> None:
    # 1% errors, 20 req/s, 10% canary, 1-minute steps: about 12 canary errors a minute against 1.2 expected.
    cfg = config(ERRORS)
    looks = [
        first_look(JUDGE, run(seed, 12, arms=Arms(error_rate=0.01, error_ratio=5.0)), cfg, Outcome.ROLLBACK)
        for seed in range(30)
    ]
    assert all(k is not None and k <= 8 for k in looks), looks
    assert statistics.median(k for k in looks if k is not None) <= 4


def test_the_rollback_reason_gives_rates_ratio_interval_and_evidence() -> None:
    decision = JUDGE.judge(run(1, 10, arms=Arms(error_rate=0.01, error_ratio=5.0)), config(ERRORS))
    verdict = decision.metric("errors")
    assert decision.outcome is Outcome.ROLLBACK and verdict is not None
    assert decision.reason.startswith("rollback: errors: error rate ")
    assert "proves a regression beyond the 10% margin" in verdict.reason
    assert verdict.estimate is not None and 3.0 < verdict.estimate < 8.0
    assert verdict.interval is not None and 1.1 < verdict.interval[0] < verdict.estimate < verdict.interval[1]
    assert verdict.e_value is not None and verdict.threshold is not None and verdict.e_value >= verdict.threshold
    assert verdict.p_value is not None and verdict.p_value <= 1.0 / verdict.threshold
    assert verdict.canary_value is not None and verdict.stable_value is not None
    assert verdict.canary_value > verdict.stable_value
    assert verdict.critical


def test_a_healthy_canary_with_enough_traffic_advances() -> None:
    steps = run(3, 30, weight=50.0, rps=200.0, arms=Arms(error_rate=0.05))
    decision = JUDGE.judge(steps, config(ERRORS))
    verdict = decision.metric("errors")
    assert decision.outcome is Outcome.ADVANCE, decision.reason
    assert verdict is not None and verdict.interval is not None and verdict.interval[1] < 1.1
    assert "non-inferior" in verdict.reason


def test_a_healthy_canary_with_little_traffic_holds_and_ends_inconclusive() -> None:
    steps = run(4, 20, arms=Arms(error_rate=0.01))
    assert JUDGE.judge(steps, config(ERRORS)).outcome is Outcome.HOLD
    final = JUDGE.judge(steps, config(ERRORS), final=True)
    assert final.outcome is Outcome.INCONCLUSIVE
    assert final.reason.startswith("inconclusive at the deadline: ")
    assert all(m.outcome is Outcome.INCONCLUSIVE for m in final.metrics)


def test_promotion_needs_min_requests() -> None:
    steps = run(3, 30, weight=50.0, rps=200.0, arms=Arms(error_rate=0.05))
    canary_requests = sum(s.metrics["errors"].canary.requests for s in steps)
    held = JUDGE.judge(steps, config(ERRORS, min_requests=int(canary_requests) + 1))
    assert held.outcome is Outcome.HOLD
    assert f"promotion needs {int(canary_requests) + 1} canary requests" in held.reason
    assert JUDGE.judge(steps, config(ERRORS, min_requests=int(canary_requests))).outcome is Outcome.ADVANCE
    assert held.canary_requests == canary_requests, "the count the rollout's minRequests gate reads"


def test_latency_40_percent_slower_is_detected_through_bucket_exceedances() -> None:
    kinds = (("latency", MetricKind.LATENCY),)
    looks = [
        first_look(
            JUDGE,
            run(seed, 10, kinds=kinds, arms=Arms(latency_factor=1.4)),
            config(LATENCY),
            Outcome.ROLLBACK,
        )
        for seed in range(10)
    ]
    assert all(k is not None and k <= 5 for k in looks), looks
    decision = JUDGE.judge(run(0, 5, kinds=kinds, arms=Arms(latency_factor=1.4)), config(LATENCY))
    assert "requests slower than" in decision.reason and "edges" in decision.reason


def test_latency_on_listed_edges_and_a_healthy_canary_advances() -> None:
    spec = MetricSpec("latency", MetricKind.LATENCY, margin=0.1, latency_edges=(100.0, 250.0))
    steps = run(5, 30, weight=50.0, rps=100.0, kinds=(("latency", MetricKind.LATENCY),))
    decision = JUDGE.judge(steps, config(spec))
    assert decision.outcome is Outcome.ADVANCE, decision.reason


def test_a_listed_edge_that_is_not_a_bucket_boundary_holds_and_says_so() -> None:
    spec = MetricSpec("latency", MetricKind.LATENCY, latency_edges=(100.0, 300.0))
    decision = JUDGE.judge(run(5, 5, kinds=(("latency", MetricKind.LATENCY),)), config(spec))
    assert decision.outcome is Outcome.HOLD
    assert "edge 300" in decision.reason and "bucket boundary" in decision.reason


def test_a_sample_ratio_mismatch_holds_and_never_rolls_back_alone() -> None:
    decision = JUDGE.judge(run(6, 10, arms=Arms(split_odds=1.5)), config(ERRORS))
    assert decision.outcome is Outcome.HOLD and decision.blocked, "a split off its weights is no evidence"
    assert "the traffic split is off" in decision.reason
    final = JUDGE.judge(run(6, 10, arms=Arms(split_odds=1.5)), config(ERRORS), final=True)
    assert final.outcome is Outcome.INCONCLUSIVE


def test_a_proven_regression_still_rolls_back_under_a_split_mismatch() -> None:
    decision = JUDGE.judge(run(7, 10, arms=Arms(split_odds=1.5, error_ratio=5.0)), config(ERRORS))
    assert decision.outcome is Outcome.ROLLBACK
    assert "the traffic split is off" in decision.reason


def test_a_canary_a_few_percent_short_of_its_share_at_high_traffic_is_no_mismatch() -> None:
    # the seconds a proxy takes to apply each new weight leave a step's canary a few percent short;
    # a point-null gate flagged this in all 10 runs at 2000 req/s, holding each until its deadline
    for seed in range(10):
        steps = run(seed, 20, weight=25.0, rps=2000.0, arms=Arms(error_rate=0.01, split_odds=0.97))
        assert "traffic split is off" not in JUDGE.judge(steps, config(ERRORS)).reason


def test_a_split_well_off_its_weights_is_flagged_within_a_few_steps_even_at_low_traffic() -> None:
    for seed in range(10):
        steps = run(seed, 6, weight=25.0, rps=20.0, arms=Arms(error_rate=0.01, split_odds=0.7))
        flagged = next(k for k in range(1, 7) if "split is off" in JUDGE.judge(steps[:k], config(ERRORS)).reason)
        assert flagged <= 4
    decision = JUDGE.judge(steps, config(ERRORS))
    assert "the traffic split is off by more than 10%: the canary got " in decision.reason


def test_an_honest_split_passes_the_gate() -> None:
    steps = run(3, 30, weight=50.0, rps=200.0, arms=Arms(error_rate=0.05))
    assert "traffic split" not in JUDGE.judge(steps, config(ERRORS)).reason


def test_a_gauge_regression_is_rolled_back_and_a_healthy_gauge_is_non_inferior() -> None:
    kinds = (("cpu", MetricKind.GAUGE),)
    bad = JUDGE.judge(run(8, 12, kinds=kinds, arms=Arms(gauge_shift=20.0)), config(GAUGE))
    assert bad.outcome is Outcome.ROLLBACK, bad.reason
    assert "proves a regression above the margin 5" in bad.reason
    good = JUDGE.judge(run(8, 20, kinds=kinds), config(GAUGE))
    verdict = good.metric("cpu")
    assert good.outcome is Outcome.ADVANCE, good.reason
    assert verdict is not None and verdict.interval is not None and verdict.interval[1] < 5.0


def test_a_gauge_whose_drop_is_bad_looks_the_other_way() -> None:
    spec = MetricSpec("cpu", MetricKind.GAUGE, margin=5.0, direction=Direction.DECREASE)
    kinds = (("cpu", MetricKind.GAUGE),)
    assert JUDGE.judge(run(8, 12, kinds=kinds, arms=Arms(gauge_shift=20.0)), config(spec)).outcome is not (
        Outcome.ROLLBACK
    )
    assert JUDGE.judge(run(8, 12, kinds=kinds, arms=Arms(gauge_shift=-20.0)), config(spec)).outcome is (
        Outcome.ROLLBACK
    )


def test_fewer_errors_are_not_a_regression_unless_a_decrease_is_bad() -> None:
    fewer = run(9, 20, weight=50.0, rps=100.0, arms=Arms(error_rate=0.05, error_ratio=0.2))
    assert JUDGE.judge(fewer, config(ERRORS)).outcome is Outcome.ADVANCE
    either = MetricSpec("errors", MetricKind.ERRORS, margin=0.1, direction=Direction.EITHER)
    assert JUDGE.judge(fewer, config(either)).outcome is Outcome.ROLLBACK


def test_critical_metrics_get_twice_the_share_of_alpha() -> None:
    cfg = config(ERRORS, LATENCY, GAUGE, alpha=0.01)
    levels = rollback_levels(cfg)
    assert abs(sum(levels.values()) - 0.01) < 1e-15
    assert abs(levels["errors"] - 2 * levels["latency"]) < 1e-15
    assert abs(levels["latency"] - levels["cpu"]) < 1e-15


def test_many_metrics_are_judged_together_and_one_regression_names_itself() -> None:
    kinds = (("errors", MetricKind.ERRORS), ("latency", MetricKind.LATENCY), ("cpu", MetricKind.GAUGE))
    steps = run(10, 8, rps=50.0, kinds=kinds, arms=Arms(latency_factor=1.5))
    decision = JUDGE.judge(steps, config(ERRORS, LATENCY, GAUGE))
    assert decision.outcome is Outcome.ROLLBACK
    assert [m.metric for m in decision.metrics] == ["errors", "latency", "cpu"]
    assert [m.metric for m in decision.metrics if m.outcome is Outcome.ROLLBACK] == ["latency"]


def test_reasons_carry_the_metric_unit_after_latency_edges_and_gauge_values() -> None:
    latency = MetricSpec("latency", MetricKind.LATENCY, margin=0.1, unit="ms")
    kinds = (("latency", MetricKind.LATENCY),)
    decision = JUDGE.judge(run(0, 5, kinds=kinds, arms=Arms(latency_factor=1.4)), config(latency))
    assert re.search(r"requests slower than [\d.]+ ms:", decision.reason), decision.reason
    gauge = MetricSpec("cpu", MetricKind.GAUGE, margin=5.0, unit="mcores")
    judged = JUDGE.judge(run(8, 12, kinds=(("cpu", MetricKind.GAUGE),), arms=Arms(gauge_shift=20.0)), config(gauge))
    assert "proves a regression above the margin 5 mcores" in judged.reason, judged.reason
    assert re.search(r"mean canary [\d.]+ mcores vs stable [\d.]+ mcores \(difference \+[\d.]+ mcores", judged.reason)
