"""Measures from run records, and the benchmark end to end on the two baseline engines."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from analysis.bench import BenchPlan, format_markdown, run_bench
from analysis.bench.generator import GeneratorSettings, generate
from analysis.bench.measures import Rate, summarize, summarize_bands, wilson_interval
from analysis.bench.replay import RunOutcome, RunRecord
from analysis.bench.scenario_io import write_scenarios_jsonl

TINY = BenchPlan(
    classes=("aa-independent", "errors-x5"),
    generator=GeneratorSettings(max_steps=10, steps_per_weight=2, rps_range=(100.0, 100.0)),
    processes=1,
    timing_repeats=1,
)


def test_wilson_interval_matches_known_values() -> None:
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_wilson_interval_ends_are_exact_at_zero_and_all() -> None:
    # The plot draws y - low as an error bar, which must never be negative.
    for n in (200, 800, 1000, 4000):
        assert wilson_interval(0, n)[0] == 0.0
        assert wilson_interval(n, n)[1] == 1.0
    assert Rate(3, 0).n == 0


def _record(engine: str, scenario: str, outcome: RunOutcome, steps: int, requests: float, onset: int = 0) -> RunRecord:
    return RunRecord(
        engine, scenario, "errors-x2", True, outcome, steps, 60.0 * steps, 60.0, onset, requests, float(steps)
    )


def test_summary_of_a_regression_class() -> None:
    records = [
        _record("e", "s1", RunOutcome.ROLLBACK, 4, 400.0),
        _record("e", "s2", RunOutcome.ROLLBACK, 2, 200.0),
        _record("e", "s3", RunOutcome.PROMOTE, 10, 1000.0),
        _record("e", "s4", RunOutcome.ROLLBACK, 3, 300.0, onset=5),  # before the onset
        _record("oracle", "s1", RunOutcome.ROLLBACK, 2, 200.0),
        _record("oracle", "s2", RunOutcome.ROLLBACK, 2, 200.0),
    ]
    mine = summarize(records)[0]
    assert mine.engine == "e" and mine.runs == 4
    assert mine.missed == Rate(1, 4) and mine.early_rollback == Rate(1, 4)
    assert mine.ttd_median_steps == 3.0 and mine.ttd_median_seconds == 180.0
    assert mine.requests_to_detect == 300.0
    assert mine.oracle_ratio == pytest.approx(1.5) and mine.oracle_pairs == 2
    assert mine.blast_radius_mean == pytest.approx((4 + 2 + 10 + 3) / 4)
    assert mine.promoted == Rate(1, 4), "s3 let the regression through to all the traffic"


def test_the_engines_pooled_count_the_regressions_they_promoted() -> None:
    from analysis.bench.measures import summarize_engines

    records = [
        _record("e", "s1", RunOutcome.PROMOTE, 20, 2000.0),
        _record("e", "s2", RunOutcome.INCONCLUSIVE, 30, 3000.0),  # missed, but held back from all the traffic
        _record("e", "s3", RunOutcome.ROLLBACK, 3, 300.0),
    ]
    (pooled,) = summarize_engines(records, {"errors-x2"})
    assert pooled.missed == Rate(2, 3) and pooled.promoted == Rate(1, 3)


def test_bands_split_runs_by_the_scenario_traffic() -> None:
    slow = replace(_record("e", "s1", RunOutcome.ROLLBACK, 4, 400.0), rps=3.0)
    busy = replace(_record("e", "s2", RunOutcome.PROMOTE, 10, 1000.0), rps=300.0)
    bands = {b.band: b for b in summarize_bands([slow, busy], {"errors-x2"})}
    assert bands["< 10 req/s"].detected_errors == Rate(1, 1)
    assert bands["< 10 req/s"].ttd_median_seconds_errors == 240.0
    assert bands[">= 100 req/s"].detected_errors == Rate(0, 1)
    assert bands["10-100 req/s"].detected_errors == Rate(0, 0)


def test_detection_curves_count_late_and_missed_runs_as_not_detected() -> None:
    from analysis.bench.measures import DETECTION_HORIZONS_SECONDS, detection_curves

    assert DETECTION_HORIZONS_SECONDS == (120.0, 300.0, 600.0, 1200.0)
    records = [
        _record("e", "s1", RunOutcome.ROLLBACK, 2, 200.0),  # 120 s after the onset
        _record("e", "s2", RunOutcome.ROLLBACK, 5, 500.0),  # 300 s
        _record("e", "s3", RunOutcome.ROLLBACK, 25, 2500.0),  # 1500 s: only by the deadline
        _record("e", "s4", RunOutcome.PROMOTE, 30, 3000.0),  # missed
        _record("e", "s5", RunOutcome.ROLLBACK, 3, 300.0, onset=5),  # before the onset: not a detection
    ]
    (curve,) = detection_curves(records, {"errors-x2"})
    assert curve.engine == "e" and curve.kind == "errors"
    assert curve.within == (Rate(1, 5), Rate(2, 5), Rate(2, 5), Rate(2, 5))
    assert curve.by_deadline == Rate(3, 5)


def test_run_bench_writes_markdown_json_and_a_png(tmp_path: Path) -> None:
    result = run_bench(
        replays=4,
        scenarios_dir=None,
        out_dir=tmp_path,
        seed=1,
        engines=["naive", "oracle", "nope"],
        plan=TINY,
    )
    assert result.engines == ("naive", "oracle") and "nope" in result.unavailable
    assert {(s.engine, s.scenario_class) for s in result.summaries} == {
        (e, c) for e in ("naive", "oracle") for c in ("aa-independent", "errors-x5")
    }
    markdown = format_markdown(result)
    assert "| errors-x5 | oracle | 4 |" in markdown and "## Targets" in markdown
    assert "| missed [95% CI] | promoted [95% CI] |" in markdown and "| regressions promoted |" in markdown
    assert "## Detected within" in markdown and "| naive | errors |" in markdown
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["replays"] == 4 and data["summaries"][0]["engine"] == "naive"
    assert (tmp_path / "bench.md").read_text() == format_markdown(result)
    assert (tmp_path / "bench-pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "naive" in result.decision_seconds


def test_run_bench_replays_scenarios_from_a_directory(tmp_path: Path) -> None:
    scenarios = [generate("errors-x5", i, TINY.generator) for i in range(3)]
    write_scenarios_jsonl(tmp_path / "corpus.jsonl", scenarios)
    result = run_bench(replays=2, scenarios_dir=tmp_path, out_dir=None, seed=0, engines=["oracle"], plan=TINY)
    assert result.scenarios == 2 and result.classes == ("errors-x5",)
    assert result.summaries[0].runs == 2


@pytest.mark.parametrize(
    ("count", "header"),
    [
        (1, "1 scenario read from {dir}, each replayed once (at most 2 per class: --replays), seed 0"),
        (2, "2 scenarios read from {dir}, each replayed once (at most 2 per class: --replays), seed 0"),
    ],
)
def test_the_header_says_scenarios_from_a_directory_are_each_replayed_once(
    tmp_path: Path, count: int, header: str
) -> None:
    write_scenarios_jsonl(tmp_path / "corpus.jsonl", [generate("errors-x5", i, TINY.generator) for i in range(count)])
    result = run_bench(replays=2, scenarios_dir=tmp_path, out_dir=None, seed=0, engines=["oracle"], plan=TINY)
    assert format_markdown(result).splitlines()[2].startswith(header.format(dir=tmp_path))


def test_targets_say_whether_the_oracle_itself_could_meet_them() -> None:
    from analysis.bench.targets import check_targets

    result = run_bench(replays=6, out_dir=None, seed=2, engines=["sequential", "naive", "oracle"], plan=TINY)
    checks = {c.target: c for c in check_targets(result, ours="sequential", peer="naive")}
    ttd = next(c for t, c in checks.items() if "median TTD" in t and "errors" in t)
    assert "the oracle SPRT (the lower bound)" in ttd.detail
    assert ("meets it" in ttd.detail) or ("does not meet it either" in ttd.detail)
    assert "of all 6 runs detected within " in ttd.detail  # the same runs for both engines
    if "runs both detected" in ttd.detail:  # and then per class, like for like
        assert "(per class: errors-x5 " in ttd.detail


def test_blast_radius_target_is_also_read_at_matched_false_rollback_rates() -> None:
    from analysis.bench.measures import summarize_engines
    from analysis.bench.runner import BenchResult
    from analysis.bench.targets import check_targets

    def run(engine: str, scenario: str, cls: str, outcome: RunOutcome, blast: float) -> RunRecord:
        return RunRecord(engine, scenario, cls, cls != "aa", outcome, 3, 180.0, 60.0, 0, 1000.0, blast)

    records = []
    # "rash" rolls back half of the healthy canaries and has the smaller blast radius; "careful" never does.
    for engine, blast, aa_rollbacks in (("mine", 5.0, 0), ("rash", 1.0, 50), ("careful", 9.0, 0)):
        records += [run(engine, f"r{k}", "errors-x2", RunOutcome.ROLLBACK, blast) for k in range(10)]
        records += [
            run(engine, f"a{k}", "aa", RunOutcome.ROLLBACK if k < aa_rollbacks else RunOutcome.INCONCLUSIVE, 0.0)
            for k in range(100)
        ]
    result = BenchResult(
        replays=10,
        seed=0,
        engines=("mine", "rash", "careful"),
        unavailable={},
        classes=("aa", "errors-x2"),
        error_classes=("errors-x2",),
        source="test",
        scenarios=110,
        summaries=summarize(records),
        engine_summaries=summarize_engines(records, {"errors-x2"}),
        band_summaries=[],
        detection_curves=[],
        decision_seconds={},
        elapsed_seconds=0.0,
        processes=1,
        plan=TINY,
        records=records,
    )
    blast = next(c for c in check_targets(result, ours="mine", peer="careful") if "blast radius" in c.target)
    assert blast.met is False and "rash (A/A false rollback 0.500) 1.0 < 5.0" in blast.detail
    assert blast.detail.endswith("at matched false-rollback rates): smallest on every class")
    assert blast.detail.startswith("pooled over all regression runs, mine's is number 2 of the engines, oracle aside (")
