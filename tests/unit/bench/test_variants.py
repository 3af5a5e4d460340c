"""Engine variants for the Pareto sweep: each family at another sensitivity, and bad names refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.bench import BenchPlan, run_bench
from analysis.bench.generator import GeneratorSettings, generate
from analysis.bench.replay import engine_config, replay
from analysis.bench.runner import make_judge
from analysis.bench.variants import SWEEP, VariantError, family_of, parse_variant
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
        ("kayenta@every=0", "whole number of at least 1"),
        ("threshold@failures=2.5", "whole number of at least 1"),
    ],
)
def test_a_bad_variant_is_refused_with_what_is_accepted(name: str, message: str) -> None:
    with pytest.raises(VariantError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_variant(name)


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
