"""The generator: seeded, healthy arms equal in expectation, regressions at their stated ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.bench.generator import GeneratorSettings, ar1_series, class_spec, generate
from analysis.bench.latency_model import LatencyModel
from analysis.bench.scenario import (
    ERRORS_METRIC,
    ISTIO_EDGES_MS,
    LATENCY_METRIC,
    EffectKind,
    Scenario,
    exceedances,
)

BUSY = GeneratorSettings(rps_range=(400.0, 400.0), error_rate_range=(0.01, 0.01))


def _rates(scenarios: list[Scenario], first: int = 0, last: int | None = None) -> tuple[float, float]:
    """Pooled canary and stable error rates over the given steps of every scenario."""
    ce = cr = se = sr = 0.0
    for s in scenarios:
        for step in s.steps[first:last]:
            pair = step.metrics[ERRORS_METRIC]
            ce += pair.canary.errors
            cr += pair.canary.requests
            se += pair.stable.errors
            sr += pair.stable.requests
    return ce / cr, se / sr


def _exceed_ratio(scenarios: list[Scenario], edge: float) -> float:
    c = cn = b = bn = 0.0
    for s in scenarios:
        for step in s.steps:
            pair = step.metrics[LATENCY_METRIC]
            c += exceedances(pair.canary, edge)
            cn += pair.canary.requests
            b += exceedances(pair.stable, edge)
            bn += pair.stable.requests
    return (c / cn) / (b / bn)


def test_same_seed_same_scenario_and_different_seed_differs() -> None:
    assert generate("aa-ar1", 7) == generate("aa-ar1", 7)
    assert generate("aa-ar1", 7).steps != generate("aa-ar1", 8).steps


def test_steps_follow_the_weight_schedule_and_carry_istio_buckets() -> None:
    s = generate("aa-independent", 1, GeneratorSettings(weights=(5, 50), steps_per_weight=2, max_steps=6))
    assert [step.canary_weight for step in s.steps] == [5, 5, 50, 50, 50, 50]
    assert s.final_step == 3
    assert all(step.duration == 60.0 for step in s.steps)
    buckets = s.steps[0].metrics[LATENCY_METRIC].canary.buckets
    assert tuple(le for le, _ in buckets[:-1]) == ISTIO_EDGES_MS
    assert math.isinf(buckets[-1][0])
    assert buckets[-1][1] == s.steps[0].metrics[LATENCY_METRIC].canary.requests
    assert not s.steps[0].metrics[LATENCY_METRIC].canary.problems()


@pytest.mark.parametrize("cls", ["aa-independent", "aa-ar1", "aa-ar1-shared", "aa-diurnal"])
def test_healthy_arms_have_equal_rates_in_expectation(cls: str) -> None:
    scenarios = [generate(cls, (3, i), BUSY) for i in range(40)]
    log_ratios = []
    for s in scenarios:
        canary, stable = _rates([s])
        log_ratios.append(math.log(canary / stable))
    mean = float(np.mean(log_ratios))
    se = float(np.std(log_ratios, ddof=1)) / math.sqrt(len(log_ratios))
    assert abs(mean) < 4 * se + 0.01
    assert abs(math.log(_exceed_ratio(scenarios, 50.0))) < 0.05


def test_canary_share_of_requests_follows_the_weight() -> None:
    s = generate("aa-independent", 5, BUSY)
    for step in s.steps:
        pair = step.metrics[ERRORS_METRIC]
        share = pair.canary.requests / (pair.canary.requests + pair.stable.requests)
        assert abs(share - step.canary_weight / 100) < 0.02


@pytest.mark.parametrize("cls, ratio", [("errors-x1.25", 1.25), ("errors-x2", 2.0), ("errors-x5", 5.0)])
def test_error_regressions_have_the_stated_ratio(cls: str, ratio: float) -> None:
    scenarios = [generate(cls, (4, i), BUSY) for i in range(10)]
    canary, stable = _rates(scenarios)
    assert scenarios[0].effect.ratio == ratio
    assert canary / stable == pytest.approx(ratio, rel=0.06)


@pytest.mark.parametrize("cls, shift", [("latency+5%", 0.05), ("latency+25%", 0.25)])
def test_latency_regressions_shift_the_median_and_match_the_stated_exceedance_ratio(cls: str, shift: float) -> None:
    settings = GeneratorSettings(rps_range=(400.0, 400.0), latency_median_range_ms=(40.0, 40.0))
    scenarios = [generate(cls, (5, i), settings) for i in range(10)]
    effect = scenarios[0].effect
    assert effect.kind is EffectKind.LATENCY and effect.edge is not None
    expected = LatencyModel(40.0 * (1 + shift), 0.6).survival(effect.edge) / LatencyModel(40.0, 0.6).survival(
        effect.edge
    )
    assert effect.ratio == pytest.approx(expected)
    assert _exceed_ratio(scenarios, effect.edge) == pytest.approx(effect.ratio, rel=0.03)


def test_slow_tail_puts_one_percent_of_canary_requests_past_one_second() -> None:
    scenarios = [generate("tail-1%", (6, i), BUSY) for i in range(5)]
    assert scenarios[0].effect.edge == 1000.0
    slow = total = 0.0
    for s in scenarios:
        for step in s.steps:
            canary = step.metrics[LATENCY_METRIC].canary
            slow += exceedances(canary, 1000.0)
            total += canary.requests
    assert slow / total == pytest.approx(0.01, rel=0.1)


def test_mid_run_onset_leaves_the_first_steps_healthy() -> None:
    settings = GeneratorSettings(rps_range=(400.0, 400.0), error_rate_range=(0.01, 0.01), mid_onset_step=10)
    scenarios = [generate("errors-x5-mid", (7, i), settings) for i in range(10)]
    assert scenarios[0].effect.onset_step == 10
    before_c, before_s = _rates(scenarios, 0, 10)
    after_c, after_s = _rates(scenarios, 10)
    assert before_c / before_s == pytest.approx(1.0, abs=0.2)
    assert after_c / after_s == pytest.approx(5.0, rel=0.1)


def test_ar1_noise_has_the_stated_autocorrelation_and_spread() -> None:
    x = ar1_series(np.random.default_rng(0), 200_000, 0.7, 0.1)
    assert float(np.std(x)) == pytest.approx(0.1, rel=0.03)
    assert float(np.corrcoef(x[:-1], x[1:])[0, 1]) == pytest.approx(0.7, abs=0.01)


def test_class_names_parse_and_unknown_names_are_refused() -> None:
    spec = class_spec("latency+10%-mid")
    assert spec.effect is EffectKind.LATENCY and spec.magnitude == pytest.approx(0.1) and spec.mid_onset
    assert class_spec("errors-x1.5").magnitude == 1.5
    with pytest.raises(ValueError, match="unknown scenario class 'errors-2'"):
        class_spec("errors-2")
