"""A latency metric with several edges says which edge its numbers are for, and its sentences stay true to
them: a rollback decided by the mean of the edges' e-values proves that at least one edge regressed, which
is not what the shown edge's own CS says unless that CS excludes the margin; a listed edge that is no bucket
boundary is named as the one missing, and the numbers shown are of an edge that has data."""

from __future__ import annotations

import math

import numpy as np

from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.sequential.engine import SequentialJudge
from analysis.verdicts import Decision, Outcome

BUCKETS = (10.0, 25.0, 50.0, 100.0)
STABLE, CANARY = (0.385, 0.066), (0.50, 0.090)  # shares slower than 25 ms and 50 ms: both edges about 1.3x


def _arm(rng: np.random.Generator, n: int, shares: tuple[float, float]) -> ArmSample:
    slow_25 = rng.binomial(n, shares[0])
    slow_50 = rng.binomial(slow_25, shares[1] / shares[0])
    below = {10.0: 0.0, 25.0: n - slow_25, 50.0: n - slow_50, 100.0: n - slow_50}
    return ArmSample(requests=n, buckets=(*((le, float(below[le])) for le in BUCKETS), (math.inf, float(n))))


def _first_rollback(seed: int, edges: tuple[float, ...], looks: int = 120) -> Decision:
    """Judge 100 requests per arm every look (one step at 50%) until the first rollback, as a run does."""
    rng = np.random.default_rng(seed)
    spec = MetricSpec("latency", MetricKind.LATENCY, margin=0.2, latency_edges=edges, unit="ms")
    config = EngineConfig(metrics=(spec,), alpha=0.01, min_requests=500)
    steps: list[StepWindow] = []
    decision = None
    for i in range(looks):
        pair = MetricPair(_arm(rng, 100, STABLE), _arm(rng, 100, CANARY))
        steps.append(StepWindow(i, 2.0 * i, 2.0 * i + 2.0, 50.0, {"latency": pair}))
        decision = SequentialJudge().judge(steps, config)
        if decision.outcome is Outcome.ROLLBACK:
            return decision
    assert decision is not None
    return decision


def test_a_rollback_proven_only_by_the_mean_over_edges_says_so_and_claims_no_single_edge() -> None:
    decision = _first_rollback(9, (25.0, 50.0))  # the mean crosses 100 before either edge crosses 200 alone
    assert decision.outcome is Outcome.ROLLBACK
    verdict = decision.metrics[0]
    assert verdict.interval is not None and verdict.interval[0] <= 1.2, "the shown edge's CS does not exclude 1.2"
    assert verdict.edge == "25 ms" and verdict.edges == 2
    assert "proves jointly that at least one of the 2 edges regressed beyond the 20% margin" in verdict.reason
    assert "though no single edge's CS excludes it yet" in verdict.reason
    assert "proves a regression beyond" not in verdict.reason


def test_a_rollback_an_edge_proves_by_itself_names_that_edge() -> None:
    decision = _first_rollback(1, (25.0, 50.0))
    verdict = decision.metrics[0]
    assert decision.outcome is Outcome.ROLLBACK and verdict.interval is not None and verdict.interval[0] > 1.2
    assert "proves a regression beyond the 20% margin, at the 25 ms edge, whose own CS excludes the margin" in (
        verdict.reason
    )


def test_the_decision_sentence_names_the_arms() -> None:
    verdict = _first_rollback(1, (25.0, 50.0)).metrics[0]
    assert verdict.canary_value is not None and verdict.stable_value is not None
    canary, stable = f"{100 * verdict.canary_value:.2f}%", f"{100 * verdict.stable_value:.2f}%"
    assert f"requests slower than 25 ms: canary {canary} vs stable {stable} (ratio" in verdict.reason


def test_an_edge_that_is_no_bucket_boundary_is_named_and_the_numbers_are_of_one_with_data() -> None:
    decision = _first_rollback(5, (25.0, 26.0), looks=6)
    verdict = decision.metrics[0]
    assert verdict.outcome is Outcome.HOLD
    assert "no step has edge 26 ms in both arms' histograms (is it a bucket boundary?)" in verdict.reason
    assert "the other edge (25 ms) is judged" in verdict.reason
    assert "no step has requests in both arms" not in verdict.reason
    assert verdict.edge == "25 ms" and verdict.stable_n == 600 and verdict.canary_n == 600
    assert verdict.estimate is not None and verdict.e_value is not None


def test_when_no_listed_edge_is_a_bucket_boundary_no_e_value_is_shown() -> None:
    verdict = _first_rollback(5, (26.0, 27.0), looks=3).metrics[0]
    assert verdict.outcome is Outcome.HOLD and verdict.stable_n == 0 and verdict.canary_n == 0
    assert verdict.e_value is None and verdict.p_value is None
    assert "no step has edges 26 ms, 27 ms in both arms' histograms" in verdict.reason
    assert "no tested edge has counts in both arms yet" in verdict.reason


def test_a_verdict_says_where_its_margin_lies_on_the_estimate_s_scale() -> None:
    verdict = _first_rollback(1, (25.0,), looks=2).metrics[0]
    assert verdict.margin_at == (1.2,) and verdict.edges == 1 and verdict.edge == "25 ms"
