"""Engine variants for the Pareto sweep: each family at another sensitivity, and bad names refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.bench import BenchPlan, run_bench
from analysis.bench.generator import GeneratorSettings, generate
from analysis.bench.replay import RunOutcome, engine_config, replay
from analysis.bench.runner import make_judge
from analysis.bench.variants import SWEEP, ConfigOverride, VariantError, family_of, parse_variant
from analysis.observations import MetricKind
from rollout.cli import app

PLAN = BenchPlan(
    classes=("aa-independent", "errors-x2"),
    generator=GeneratorSettings(max_steps=10, steps_per_weight=2, rps_range=(300.0, 300.0)),
    processes=1,
    timing_repeats=1,
)


def test_every_sweep_variant_builds_and_names_its_family() -> None:
    for name in SWEEP:
        family, _, _ = parse_variant(name)
        assert family_of(name) == family
        assert make_judge(name) is not None
    assert family_of("kayenta-1m") == "kayenta" and family_of("oracle") == "oracle"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sequential@beta=0.1", "unknown engine variant"),
        ("bogus@alpha=0.1", "unknown engine variant"),
        ("naive@alpha=two", "is not a number"),
        ("sequential@alpha=1.5", "alpha must be within (0, 1)"),
        ("sequential@absolute=0", "absolute must be within (0, 1)"),
        ("sequential@latency-absolute=1", "latency-absolute must be within (0, 1)"),
        ("naive@absolute=0.001", "unknown engine variant"),
        ("kayenta@every=0", "whole number of at least 1"),
        ("threshold@failures=2.5", "whole number of at least 1"),
    ],
)
def test_a_bad_variant_is_refused_with_what_is_accepted(name: str, message: str) -> None:
    with pytest.raises(VariantError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_variant(name)


def test_an_absolute_margin_promotes_healthy_canaries_and_never_changes_a_rollback() -> None:
    # Busy enough (3000 req/s) for the latency metric to be proven non-inferior; errors at 0.05-0.5%
    # are too rare for a ratio within 10% in 10 steps, but not for a rise of at most 1 point.
    plain, absolute = make_judge("sequential"), make_judge("sequential@absolute=0.01")
    busy = replace(PLAN.generator, rps_range=(3000.0, 3000.0))
    promoted = {"sequential": 0, "absolute": 0}
    for cls in ("aa-independent", "errors-x2"):
        for i in range(8):
            scenario = generate(cls, (22, i), busy)
            config = engine_config(scenario)
            a, b = replay(scenario, plain, config), replay(scenario, absolute, config)
            if a.rolled_back or b.rolled_back:  # the margin is a promotion rule only
                assert (a.outcome, a.steps_run) == (b.outcome, b.steps_run)
            if cls == "aa-independent":
                promoted["sequential"] += a.outcome is RunOutcome.PROMOTE
                promoted["absolute"] += b.outcome is RunOutcome.PROMOTE
    assert promoted["absolute"] > promoted["sequential"], promoted


def test_each_absolute_margin_variant_reaches_only_its_own_metric() -> None:
    config = engine_config(generate("aa-independent", 1, PLAN.generator))
    for name, expected in (
        ("sequential@absolute=0.001", {MetricKind.ERRORS: 0.001, MetricKind.LATENCY: None}),
        ("sequential@latency-absolute=0.01", {MetricKind.ERRORS: None, MetricKind.LATENCY: 0.01}),
    ):
        judge = make_judge(name)
        assert isinstance(judge, ConfigOverride)
        assert {m.kind: m.absolute_margin for m in judge.change(config).metrics} == expected


def test_a_larger_alpha_makes_the_sequential_engine_roll_back_sooner() -> None:
    # The knob really reaches the engine: on the same regressions, alpha 0.2 never needs more steps.
    strict, loose = make_judge("sequential@alpha=0.001"), make_judge("sequential@alpha=0.2")
    faster = 0
    for i in range(12):
        scenario = generate("errors-x2", (21, i), PLAN.generator)
        config = engine_config(scenario)
        a, b = replay(scenario, strict, config), replay(scenario, loose, config)
        if a.rolled_back:
            assert b.rolled_back and b.steps_run <= a.steps_run
        faster += b.rolled_back and (not a.rolled_back or b.steps_run < a.steps_run)
    assert faster > 0


def test_variants_run_in_the_benchmark_next_to_their_defaults() -> None:
    result = run_bench(replays=3, engines=["naive", "naive@alpha=1e-4", "oracle"], plan=PLAN)
    assert result.engines == ("naive", "naive@alpha=1e-4", "oracle")
    summaries = {s.engine for s in result.engine_summaries}
    assert "naive@alpha=1e-4" in summaries


def test_the_cli_refuses_an_unknown_engine_in_one_line(tmp_path: Path) -> None:
    for bad in ("nope", "naive@alpha=x"):
        result = CliRunner().invoke(app, ["bench", "analysis", "--replays", "1", "--engine", bad])
        assert result.exit_code != 0
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_an_out_folder_that_cannot_be_written_is_refused_before_any_replay(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(app, ["bench", "analysis", "--replays", "1", "--out", str(blocked / "results")])
    assert result.exit_code != 0 and f"{blocked} is a file, not a folder" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "scenarios" not in result.output, result.output
