"""The harness: identical data at identical decision times, and the run rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from analysis.bench.generator import GeneratorSettings, generate
from analysis.bench.replay import RunOutcome, engine_config, excess_bad, replay, replay_all
from analysis.bench.scenario import ERRORS_METRIC, EffectKind, MetricInfo, Scenario, TrueEffect
from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricPair, StepWindow
from analysis.verdicts import Decision, Judge, Outcome

SMALL = GeneratorSettings(max_steps=8, steps_per_weight=2, rps_range=(50.0, 50.0))


@dataclass
class Recorder:
    """A fake engine that records every call and answers from a script (HOLD by default)."""

    name: str
    script: dict[int, Outcome] = field(default_factory=dict)
    raise_at: int | None = None
    calls: list[tuple[Sequence[StepWindow], EngineConfig, bool]] = field(default_factory=list)

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        self.calls.append((steps, config, final))
        k = len(steps) - 1
        if k == self.raise_at:
            raise RuntimeError("engine bug")
        return Decision(self.script.get(k, Outcome.HOLD), "scripted", self.name)


def test_every_engine_sees_the_same_windows_at_the_same_decision_times() -> None:
    scenario = generate("errors-x2", 3, SMALL)
    first, second = Recorder("first"), Recorder("second")
    judges: dict[str, Judge] = {"first": first, "second": second}
    replay_all(scenario, judges)
    assert len(first.calls) == len(second.calls) == len(scenario.steps)
    for k, ((steps_a, config_a, final_a), (steps_b, config_b, final_b)) in enumerate(
        zip(first.calls, second.calls, strict=True)
    ):
        assert tuple(steps_a) == scenario.steps[: k + 1]
        assert all(a is b for a, b in zip(steps_a, steps_b, strict=True))  # the very same objects
        assert config_a == config_b
        assert final_a == final_b == (k == len(scenario.steps) - 1)


def test_the_first_rollback_ends_the_run() -> None:
    scenario = generate("errors-x2", 3, SMALL)
    engine = Recorder("r", {2: Outcome.ROLLBACK, 5: Outcome.ROLLBACK})
    record = replay(scenario, engine, engine_config(scenario))
    assert record.outcome is RunOutcome.ROLLBACK and record.steps_run == 3 and len(engine.calls) == 3
    assert record.detected and record.steps_to_detect == 3 and record.seconds_to_detect == 180.0
    assert record.seconds_run == 180.0


def test_advance_promotes_only_at_or_after_the_final_step_of_the_schedule() -> None:
    scenario = generate("aa-independent", 3, SMALL)
    assert scenario.final_step == 7
    early = replay(scenario, Recorder("e", {k: Outcome.ADVANCE for k in range(7)}), engine_config(scenario))
    assert early.outcome is RunOutcome.INCONCLUSIVE and early.steps_run == 8
    longer = GeneratorSettings(max_steps=12, steps_per_weight=2, rps_range=(50.0, 50.0))
    scenario = generate("aa-independent", 3, longer)
    late = replay(scenario, Recorder("l", {k: Outcome.ADVANCE for k in range(7, 12)}), engine_config(scenario))
    assert late.outcome is RunOutcome.PROMOTE and late.steps_run == 8


def test_an_engine_that_raises_is_counted_and_the_run_goes_on() -> None:
    scenario = generate("aa-independent", 3, SMALL)
    record = replay(scenario, Recorder("x", raise_at=1), engine_config(scenario))
    assert record.engine_errors == 1 and "RuntimeError: engine bug" in record.first_error
    assert record.steps_run == len(scenario.steps)


def _hand_made(rows: list[tuple[float, float, float, float]], final_step: int | None = None) -> Scenario:
    steps = tuple(
        StepWindow(
            k,
            60.0 * k,
            60.0 * (k + 1),
            10.0,
            {ERRORS_METRIC: MetricPair(stable=ArmSample(rb, bb), canary=ArmSample(rc, bc))},
        )
        for k, (rc, bc, rb, bb) in enumerate(rows)
    )
    return Scenario(
        "hand",
        "errors-x2",
        TrueEffect(EffectKind.ERRORS, ERRORS_METRIC, 2.0, 2.0),
        (MetricInfo(ERRORS_METRIC, MetricKind.ERRORS),),
        steps,
        len(steps) - 1 if final_step is None else final_step,
    )


def test_blast_radius_is_the_canary_excess_over_the_stable_rate() -> None:
    scenario = _hand_made([(100, 4, 900, 18), (200, 10, 800, 16), (50, 3, 0, 0)])
    # step 0: 4 - 18 * 100/900 = 2; step 1: 10 - 16 * 200/800 = 6; step 2: no stable traffic, all 3 count
    assert excess_bad(scenario.steps, scenario) == pytest.approx(11.0)
    record = replay(scenario, Recorder("r", {1: Outcome.ROLLBACK}), engine_config(scenario))
    assert record.blast_radius == pytest.approx(8.0)
    assert record.requests == pytest.approx(2000.0)


def test_a_run_that_never_rolls_back_counts_the_blast_radius_to_the_horizon() -> None:
    # A promoted or undecided bad canary keeps serving: promotion does not end the harm.
    scenario = _hand_made([(100, 4, 900, 18), (200, 10, 800, 16), (50, 3, 0, 0)])
    promoted = replay(scenario, Recorder("r", {2: Outcome.ADVANCE}), engine_config(scenario))
    undecided = replay(scenario, Recorder("r"), engine_config(scenario))
    assert promoted.outcome is RunOutcome.PROMOTE and undecided.outcome is RunOutcome.INCONCLUSIVE
    assert promoted.blast_radius == undecided.blast_radius == pytest.approx(11.0)


def test_after_a_promotion_the_canary_serves_all_the_traffic_until_the_horizon() -> None:
    # Promoted at step 1 (the schedule's final step): step 2's 100 + 900 requests all meet the
    # canary's 4% error rate instead of the stable's 2%, an excess of 0.02 x 1000 = 20.
    scenario = _hand_made([(100, 4, 900, 18), (200, 10, 800, 16), (100, 4, 900, 18)], final_step=1)
    promoted = replay(scenario, Recorder("r", {1: Outcome.ADVANCE}), engine_config(scenario))
    undecided = replay(scenario, Recorder("r"), engine_config(scenario))
    assert promoted.outcome is RunOutcome.PROMOTE and promoted.steps_run == 2
    assert undecided.blast_radius == pytest.approx(2 + 6 + 2)
    assert promoted.blast_radius == pytest.approx(2 + 6 + 20)


def test_the_engine_config_carries_flagger_ranges_and_the_margins() -> None:
    config = engine_config(generate("aa-independent", 3, SMALL))
    errors, latency = config.metrics
    assert errors.kind is MetricKind.ERRORS and errors.min_value == 99.0
    assert latency.kind is MetricKind.LATENCY and latency.max_value == 500.0 and latency.quantile == 0.99
    assert config.alpha == 0.01


def test_the_record_carries_the_scenario_traffic() -> None:
    scenario = generate("aa-independent", 3, GeneratorSettings(max_steps=20, rps_range=(50.0, 50.0)))
    record = replay(scenario, Recorder("r", {1: Outcome.ROLLBACK}), engine_config(scenario))
    assert record.rps == pytest.approx(50.0, rel=0.05)
