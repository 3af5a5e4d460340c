"""What an Argo Rollout judged and copied is not widened: a dry-run metric, which never affects an Argo
rollout, is left out rather than judged live; a mirror limited to a match is dropped rather than made a
mirror of every request (POSTs included); a mirror Argo turns off midway is said to stay on."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import Imported, run_import, write_rollout

TEMPLATE = (
    "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: errors, namespace: fin}\nspec:\n"
    "  DRY_RUN\n"
    "  metrics:\n"
    "  - name: total-5xx-errors\n    failureCondition: result[0] >= 10\n"
    "    provider: {prometheus: {query: 'sum(rate(requests_total{code=~\"5..\"}[1m]))'}}\n"
    "  - name: total-4xx-errors\n    failureCondition: result[0] >= 10\n"
    "    provider: {prometheus: {query: 'sum(rate(requests_total{code=~\"4..\"}[1m]))'}}\n"
)
ISTIO = (
    "trafficRouting: {istio: {virtualService: {name: billing, routes: [primary]}, destinationRule: {name: billing}}}"
)


def _with_dry_run(tmp_path: Path, template_rule: str = "", rollout_rule: str = "") -> Imported:
    analysis = "analysis: {templates: [{templateName: errors}]" + (f", {rollout_rule}" if rollout_rule else "") + "}"
    rollout = write_rollout(
        tmp_path,
        f"{ISTIO}\n{analysis}\nsteps: [{{setWeight: 10}}, {{pause: {{duration: 1m}}}}]",
        more=TEMPLATE.replace("DRY_RUN", template_rule or "args: []"),
    )
    return run_import(tmp_path, rollout, options=("--engine", "threshold"))


def test_a_dry_run_metric_is_left_out_and_analyze_is_offered_to_judge_it_after_the_fact(tmp_path: Path) -> None:
    imported = _with_dry_run(tmp_path, template_rule="dryRun: [{metricName: total-5xx-errors}]")
    assert imported.code == 0, imported.stderr
    analysis = imported.spec["analysis"]
    assert [m["name"] for m in analysis["metrics"]] == ["total-4xx-errors"]
    assert all('"5.."' not in t["value"] for t in analysis["templates"])
    (line,) = [n for n in imported.stderr.splitlines() if "dry-run" in n]
    assert "AnalysisTemplate/errors:spec.metrics[0]: not translated: metric 'total-5xx-errors' runs in dry-run" in line
    assert "never affects the rollout, so it was left out of the Experiment" in line
    assert "meshroll analyze" in line and "after the fact" in line


def test_a_dry_run_rule_is_a_regular_expression_and_may_sit_in_the_rollouts_analysis(tmp_path: Path) -> None:
    imported = _with_dry_run(tmp_path, rollout_rule="dryRun: [{metricName: 'total-.xx-errors'}]")
    assert imported.code == 0, imported.stderr
    assert "total-4xx-errors" not in [m["name"] for m in imported.spec["analysis"]["metrics"]]
    assert "total-5xx-errors" not in [m["name"] for m in imported.spec["analysis"]["metrics"]]
    assert "the peer judged nothing" in imported.comments  # the built-in error rate and latency were added
    assert "spec.strategy.canary.analysis.dryRun[0]" in imported.stderr


def test_without_a_dry_run_rule_both_metrics_are_judged(tmp_path: Path) -> None:
    imported = _with_dry_run(tmp_path)
    assert [m["name"] for m in imported.spec["analysis"]["metrics"]] == ["total-5xx-errors", "total-4xx-errors"]


MIRROR_STEPS = """\
steps:
- setWeight: 10
- pause: {duration: 1m}
- setMirrorRoute: {name: mirror-route, percentage: 35, match: MATCH}
- setWeight: 40
- pause: {duration: 1m}
- setMirrorRoute: {name: mirror-route}
- setWeight: 60
- pause: {duration: 1m}
"""


def _with_mirror(tmp_path: Path, match: str) -> Imported:
    canary = f"{ISTIO}\n" + MIRROR_STEPS.replace("MATCH", match)
    return run_import(tmp_path, write_rollout(tmp_path, canary))


def test_a_mirror_of_matching_requests_only_is_dropped_not_widened_to_every_request(tmp_path: Path) -> None:
    imported = _with_mirror(tmp_path, "[{method: {exact: GET}, path: {prefix: /api}}]")
    assert imported.code == 0, imported.stderr
    assert "mirror" not in imported.spec["strategy"]
    (line,) = [n for n in imported.stderr.splitlines() if "steps[2].setMirrorRoute.match: not translated" in n]
    assert "non-idempotent" in line and "duplicating their side effects" in line
    assert "add strategy.mirror {percent: 35} by hand only if every request to this service is safe to repeat" in line
    assert "turns the mirror off" not in imported.stderr  # no mirror is kept, so nothing stays on


def test_a_mirror_of_every_request_is_kept_and_turning_it_off_midway_is_said_to_be_lost(tmp_path: Path) -> None:
    imported = _with_mirror(tmp_path, "[{path: {prefix: /}}]")
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"]["mirror"] == {"percent": 35}
    (line,) = [n for n in imported.stderr.splitlines() if "steps[5].setMirrorRoute: not translated" in n]
    assert "meshroll's strategy.mirror stays on for the whole run" in line


def test_a_mirror_route_without_match_removes_the_mirror_as_in_argo(tmp_path: Path) -> None:
    """Argo: "a none listed match acts like a removal of the route instead of say routing all traffic"."""
    canary = f"{ISTIO}\nsteps: [{{setWeight: 10}}, {{setMirrorRoute: {{name: m, percentage: 50}}}}, {{pause: {{}}}}]"
    imported = run_import(tmp_path, write_rollout(tmp_path, canary))
    assert imported.code == 0, imported.stderr
    assert "mirror" not in imported.spec["strategy"]


def test_a_mirror_only_rollout_says_it_never_promotes_and_how_to_release(tmp_path: Path) -> None:
    mirror = "{setMirrorRoute: {name: m, match: [{path: {prefix: /}}]}}"
    canary = f"{ISTIO}\nsteps: [{mirror}, {{pause: {{duration: 5m}}}}]"
    imported = run_import(tmp_path, write_rollout(tmp_path, canary))
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"] == {"mirror": {"percent": 100, "duration": "5m", "stepInterval": "5m"}}
    (line,) = [n for n in imported.stderr.splitlines() if "never promotes" in n]
    assert "steps[0].setMirrorRoute: not translated: Argo promotes after the mirrored analysis" in line
    assert "spec.after: [{name: billing}]" in line and "strategy.canary" in line
