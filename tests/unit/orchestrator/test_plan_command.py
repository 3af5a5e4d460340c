"""``meshroll plan``: the pre-flight estimate reads the experiment and warns when maxDuration is too short."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rollout.cli import app
from rollout.preflight import assumed_traffic, exceedance_of, own_canary, planned_edges, preflight
from rollout.spec import load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def test_the_demo_plan_uses_the_embedded_mesh_profile_and_finds_latency_quick_to_judge() -> None:
    experiment = load_experiment(EXPERIMENTS / "demo-healthy.yaml")
    traffic = assumed_traffic(experiment, None, None)
    assert traffic.request_rate == 250 and traffic.error_rate == 0.002
    assert 0.30 < traffic.exceedance[25.0] < 0.40, "a 20ms-median lognormal exceeds 25ms about a third of the time"
    plans = {p.what: p.plan for p in preflight(experiment, traffic, regression=2.0)}
    assert plans["slower than 25 ms"].detect_seconds is not None and plans["slower than 25 ms"].detect_seconds <= 24
    assert any("longer than maxDuration" in w for w in plans["errors"].warnings)


def test_the_lognormal_exceedance_matches_its_definition() -> None:
    experiment = load_experiment(EXPERIMENTS / "demo-healthy.yaml")
    profile = experiment.spec.mesh.stable  # type: ignore[union-attr]
    assert abs(exceedance_of(profile, 20.0) - 0.5) < 1e-9, "half the requests are slower than the median"
    assert abs(exceedance_of(profile, 80.0) - 0.01) < 1e-6, "1% are slower than p99"


def test_plan_prints_a_table_and_warnings() -> None:
    result = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "canary-istio.yaml"), "--rps", "20"])
    assert result.exit_code == 0, result.output
    assert "detect in" in result.output and "warning:" in result.output


def test_plan_refuses_bad_input_in_one_line() -> None:
    chaos_only = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "chaos-only-istio.yaml")])
    assert chaos_only.exit_code == 1 and "nothing to plan" in chaos_only.output
    bad = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "demo-healthy.yaml"), "--regression", "0.9"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1


def test_plan_refuses_numbers_that_are_not_finite_or_past_any_service_in_one_line() -> None:
    for option, value, message in (
        ("--rps", "nan", "--rps nan must be above 0 and at most 1e+09"),
        ("--rps", "inf", "--rps inf must be above 0 and at most 1e+09"),
        ("--rps", "1e308", "--rps 1e+308 must be above 0 and at most 1e+09"),
        ("--error-rate", "2", "--error-rate 2 must be between 0 and 1"),
        ("--regression", "nan", "must be a finite number above 1"),
        ("--regression", "inf", "must be a finite number above 1"),
    ):
        bad = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "demo-healthy.yaml"), option, value])
        assert bad.exit_code == 1 and message in bad.output and bad.output.count("\n") == 1


def test_the_istio_example_promotes_a_healthy_canary_within_its_max_duration_at_100_requests_a_second() -> None:
    result = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "canary-istio.yaml"), "--rps", "100"])
    assert result.exit_code == 0, result.output
    assert "INCONCLUSIVE" not in result.output, "an example users copy should be able to promote"


def test_an_experiment_judged_by_another_engine_is_planned_as_the_sequential_engine_would_and_says_so() -> None:
    result = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "canary-smi.yaml")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "is judged by the threshold engine" in text and "promotes when the schedule ends (25 min)" in text
    assert "(if judged by the sequential engine)" in text and "if judged by sequential: " in text
    assert "warning:" not in text, "no warning about a decision the threshold engine does not make"
    assert "note: latency: its bucket edges are chosen during the run; give latencyEdges" in text


def test_the_threshold_engines_note_quotes_the_experiments_failure_threshold(tmp_path: Path) -> None:
    example = EXPERIMENTS / "canary-smi.yaml"
    default = " ".join(CliRunner().invoke(app, ["plan", str(example)]).output.split())
    assert "rolls back after 5 failed checks (the default of analysis.failureThreshold)" in default
    path = tmp_path / "canary-smi-3.yaml"
    path.write_text(example.read_text().replace("engine: threshold\n", "engine: threshold\n    failureThreshold: 3\n"))
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "rolls back after 3 failed checks (analysis.failureThreshold)" in " ".join(result.output.split())


def test_a_threshold_run_on_gauges_alone_is_planned_by_what_its_engine_does(tmp_path: Path) -> None:
    """Nothing for a sequential estimate (a gauge has none), but the file is valid and its engine's schedule
    is known: the note, and exit 0, not a refusal that explains the sequential engine."""
    text = (EXPERIMENTS / "canary-smi.yaml").read_text().split("    metrics:\n")[0]
    path = tmp_path / "gauges.yaml"
    path.write_text(
        text + "    metrics:\n      - {name: success-rate, template: ratio, thresholdRange: {min: 0.99}}\n"
        "    templates:\n      - {name: ratio, kind: gauge, value: 'sum(rate(ok[1m])) / sum(rate(all[1m]))'}\n"
    )
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert said.startswith(f"note: {path} is judged by the threshold engine, which checks fixed ranges")
    assert "sequential" not in said and "t-test" not in said


def test_a_plan_with_only_latency_edges_chosen_during_the_run_says_so_in_one_line(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "canary-istio.yaml").read_text()
    only_latency = "\n".join(
        line.replace(", absoluteMargin: 0.01, latencyEdges: [100, 250]", "")
        for line in text.splitlines()
        if "name: error-rate" not in line
    )
    path = tmp_path / "latency-only.yaml"
    path.write_text(only_latency)
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "latency: its bucket edges are chosen during the run; give latencyEdges" in result.output


def test_plan_says_when_the_canary_gets_more_than_its_weights_share() -> None:
    notes = {
        name: [line for line in CliRunner().invoke(app, ["plan", str(EXPERIMENTS / name)]).output.splitlines()]
        for name in ("canary-cohort-local.yaml", "canary-sticky-local.yaml", "demo-healthy.yaml")
    }
    share = "the canary gets more than its weights' share of requests"
    assert any(share in line and "its cohort always reaches it" in line for line in notes["canary-cohort-local.yaml"])
    assert any(share in line and "sticky users" in line for line in notes["canary-sticky-local.yaml"])
    assert not any(share in line for line in notes["demo-healthy.yaml"])


def test_plan_says_a_pinned_stable_makes_the_canarys_share_trail_its_weights(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "canary-sticky-local.yaml").read_text()
    written = "sessionAffinity: {cookieName: meshroll-canary, maxAge: 1h}"
    assert written in text
    path = tmp_path / "pinned.yaml"
    path.write_text(text.replace(written, written[:-1] + ", primaryCookieName: meshroll-stable}"))
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "the canary's share of requests trails its weights as they grow" in result.output
    assert "stable's on stable with primaryCookieName" in result.output
    assert "more than its weights' share" not in result.output


def test_a_cohort_beside_a_pinned_stable_gets_one_note_that_cannot_say_sooner_or_later(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "canary-cohort-local.yaml").read_text()
    cohort = "      cohort:\n"
    assert cohort in text
    pinned = "      sessionAffinity: {cookieName: meshroll-canary, primaryCookieName: meshroll-stable}\n"
    path = tmp_path / "both.yaml"
    path.write_text(text.replace(cohort, pinned + cohort))
    result = CliRunner().invoke(app, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "so a run may detect and promote sooner or later than these times" in said
    assert "promotes sooner than these times" not in said and "promotes later than these times" not in said


def test_plan_says_what_it_assumed_for_a_cluster_mesh_and_takes_the_slow_share() -> None:
    istio = str(EXPERIMENTS / "canary-istio.yaml")
    assumed = CliRunner().invoke(app, ["plan", istio])
    assert assumed.exit_code == 0, assumed.output
    assert "note: assumed 100 req/s (--rps), a stable error rate of 0.1% (--error-rate), 5% of stable's requests" in (
        assumed.output
    )
    given = CliRunner().invoke(app, ["plan", istio, "--rps", "500", "--error-rate", "0.01", "--slow-share", "0.01"])
    assert given.exit_code == 0 and "assumed" not in given.output
    assert "│ 1%" in given.output and "│ 5%" not in given.output
    local = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "demo-healthy.yaml")])
    assert "assumed" not in local.output, "the embedded mesh's profile says it all"


def test_no_shipped_example_is_warned_by_its_own_plan() -> None:
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        if path.name == "chaos-only-istio.yaml":  # no canary to judge: nothing to plan
            continue
        result = CliRunner().invoke(app, ["plan", str(path)])
        assert result.exit_code == 0, result.output
        assert "warning:" not in result.output, f"{path.name}: {result.output}"


def test_an_embedded_mesh_file_is_planned_for_the_canary_it_runs_and_a_2x_regression_on_request() -> None:
    erroring = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "demo-erroring-canary.yaml")]).output
    healthy = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "demo-healthy.yaml")]).output
    experiment = load_experiment(EXPERIMENTS / "demo-healthy.yaml")
    traffic = assumed_traffic(experiment, None, None)
    own = own_canary(experiment, planned_edges(experiment, traffic))
    asked = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "demo-healthy.yaml"), "--regression", "2"]).output

    assert "demo/demo-erroring-canary: 250 req/s\n" in erroring
    assert "(errors 15x stable's, slower than 25 ms within its margin)" in " ".join(erroring.split())
    assert "│ 16s " in erroring, "a 3% canary against 0.2% is caught within the first steps"
    assert [p.regression for p in preflight(experiment, traffic, 2.0, own)] == [None, None], "nothing to detect"
    assert "warning:" not in healthy and "within its margin" in healthy
    assert "demo/demo-healthy: 250 req/s\n" in asked
    assert "needs ~16 min to detect a 2x regression, longer than maxDuration 75s" in " ".join(asked.split())


def test_a_mirror_is_planned_at_its_percent_of_copies(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "mirror-gateway-api.yaml").read_text()
    wider = tmp_path / "wider.yaml"
    wider.write_text(text.replace("percent: 20", "percent: 100"))
    experiment, more = load_experiment(EXPERIMENTS / "mirror-gateway-api.yaml"), load_experiment(wider)

    detect = [preflight(e, assumed_traffic(e, None, None), 2.0)[0].plan.detect_seconds for e in (experiment, more)]

    assert detect[0] is not None and detect[1] is not None and detect[1] < detect[0] / 1.5
    output = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "mirror-gateway-api.yaml")]).output
    assert "stable serves 100 req/s and the canary 20 (120 in all)" in " ".join(output.split())


def test_an_ab_test_in_a_cluster_says_the_cohort_size_it_assumed() -> None:
    output = CliRunner().invoke(app, ["plan", str(EXPERIMENTS / "ab-test-istio.yaml")]).output
    assert "note: assumed the cohort is 10% of the requests (abTest.match does not say how many)" in output


def _plan_text(*args: str) -> str:
    result = CliRunner().invoke(app, ["plan", *args])
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_under_the_table_detect_in_is_for_the_files_own_canary_and_promote_in_for_a_healthy_one() -> None:
    erroring = _plan_text(str(EXPERIMENTS / "demo-erroring-canary.yaml"))
    healthy = _plan_text(str(EXPERIMENTS / "demo-healthy.yaml"))

    assert (
        "detect in: the time to roll back the canary this file runs (errors 15x stable's); promote in: the time to "
        "promote a healthy canary (its bad events at stable's rates), which this file's is not"
    ) in erroring
    assert (
        "detect in: the canary this file runs has no regression to detect; promote in: the time to promote a "
        "healthy canary (its bad events at stable's rates), as this file's is"
    ) in healthy


def test_under_the_table_detect_in_is_for_the_regression_planned_and_promote_in_for_a_healthy_canary() -> None:
    cluster = _plan_text(str(EXPERIMENTS / "canary-istio.yaml"))
    asked = _plan_text(str(EXPERIMENTS / "demo-erroring-canary.yaml"), "--regression", "3")

    healthy = "promote in: the time to promote a healthy canary (its bad events at stable's rates)"
    assert f"detect in: the time to roll back a canary whose bad events are 2x stable's; {healthy}; a run sees" in (
        cluster
    )
    assert f"detect in: the time to roll back a canary whose bad events are 3x stable's (--regression); {healthy}" in (
        asked
    )


GAUGE_TEMPLATE = """    templates:
      - {name: cpu, kind: gauge, value: 'sum(rate(cpu_seconds_total{pod=~"{{service}}-{{version}}.*"}[{{window}}]))'}
"""


def test_gauge_metrics_are_named_as_not_planned_and_why(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "canary-istio.yaml").read_text()
    latency = "      - {name: latency, template: istio-latency-histogram,"
    assert latency in text
    path = tmp_path / "with-gauge.yaml"
    path.write_text(text.replace(latency, "      - {name: cpu, template: cpu, margin: 0.1}\n" + latency, 1))
    path.write_text(path.read_text().replace("  notify:\n", GAUGE_TEMPLATE + "  notify:\n", 1))

    said = _plan_text(str(path))

    assert (
        "note: the gauge metric cpu is not planned (a gauge is one number per arm, such as an imported Prometheus "
        "query): the sequential engine judges a gauge by a t-test on each step's canary-minus-stable difference"
    ) in said
    assert "│ cpu " not in said


def test_a_file_of_gauges_alone_says_they_are_not_planned_in_one_line(tmp_path: Path) -> None:
    text = (EXPERIMENTS / "canary-istio.yaml").read_text()
    metrics = text[text.index("    metrics:\n") : text.index("  notify:\n")]
    path = tmp_path / "gauges-only.yaml"
    path.write_text(
        text.replace(metrics, "    metrics:\n      - {name: cpu, template: cpu, margin: 0.1}\n" + GAUGE_TEMPLATE)
    )

    result = CliRunner().invoke(app, ["plan", str(path)])

    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "no error or latency metric to plan for; the gauge metric cpu is not planned" in result.output
