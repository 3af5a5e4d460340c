"""Argo Rollouts' setHeaderRoute beside setWeight: one header route on across the weighted steps is a
canary's cohort; a header route that changes, comes and goes, or runs before the weights is not, and the
weights are then listed as not translated (as before). Flagger's analysis.match stays an A/B test."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import run_import
from tests.unit.importers.test_argo import ROLLOUT_HEAD

ROUTE = "{name: header-route, match: [{headerName: x-beta, headerValue: {exact: '1'}}]}"
OTHER = "{name: header-route, match: [{headerName: agent, headerValue: {regex: chrome(.*)}}]}"
REMOVE = "{name: header-route}"


def rollout(tmp_path: Path, *steps: str) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(ROLLOUT_HEAD + "      steps:\n" + "".join(f"      - {step}\n" for step in steps))
    return path


def test_a_header_route_on_across_the_weighted_steps_becomes_the_canarys_cohort(tmp_path: Path) -> None:
    imported = run_import(
        tmp_path,
        rollout(
            tmp_path,
            "setWeight: 5",
            f"setHeaderRoute: {ROUTE}",
            "pause: {duration: 2m}",
            "setWeight: 20",
            "pause: {duration: 2m}",
            f"setHeaderRoute: {REMOVE}",
        ),
    )
    assert imported.code == 0, imported.stderr
    assert imported.spec["strategy"] == {
        "canary": {
            "steps": [5, 20],
            "stepInterval": "2m",
            "cohort": {"match": [{"headers": {"x-beta": {"exact": "1"}}}]},
        }
    }
    assert "setHeaderRoute" not in imported.stderr.replace("steps[1].setHeaderRoute's match", "")
    assert "strategy.canary.cohort: steps[1].setHeaderRoute's match" in imported.text


def test_a_header_route_that_changes_between_steps_keeps_the_not_translated_note(tmp_path: Path) -> None:
    """Upstream's header-routing e2e shape: the match changes mid-run and the route is removed before the
    last weight; meshroll's cohort stays the same all run, so the weights are listed instead."""
    imported = run_import(
        tmp_path,
        rollout(
            tmp_path,
            "setWeight: 20",
            f"setHeaderRoute: {ROUTE}",
            "pause: {duration: 1m}",
            f"setHeaderRoute: {OTHER}",
            "pause: {duration: 1m}",
            "setWeight: 40",
            f"setHeaderRoute: {REMOVE}",
            "pause: {duration: 1m}",
        ),
    )
    assert imported.code == 0, imported.stderr
    assert set(imported.spec["strategy"]) == {"abTest"}
    assert "steps[0].setWeight: not translated: weights [20, 40]: the header routes change" in imported.stderr


def test_a_header_route_only_during_an_unweighted_pause_is_an_ab_test_then_weights(tmp_path: Path) -> None:
    imported = run_import(
        tmp_path,
        rollout(
            tmp_path,
            f"setHeaderRoute: {ROUTE}",
            "pause: {duration: 5m}",
            f"setHeaderRoute: {REMOVE}",
            "setWeight: 10",
            "pause: {duration: 5m}",
        ),
    )
    assert set(imported.spec["strategy"]) == {"abTest"}
    assert "setWeight: not translated: weights [10]" in imported.stderr


def test_a_header_route_set_after_the_first_weighted_pause_is_not_a_cohort(tmp_path: Path) -> None:
    imported = run_import(
        tmp_path,
        rollout(
            tmp_path,
            "setWeight: 10",
            "pause: {duration: 1m}",
            f"setHeaderRoute: {ROUTE}",
            "setWeight: 30",
            "pause: {duration: 1m}",
        ),
    )
    assert "canary" not in imported.spec["strategy"]
    assert "setWeight: not translated" in imported.stderr


def test_flaggers_match_with_step_weights_stays_an_ab_test(tmp_path: Path) -> None:
    """Flagger's analysis.match routes the cohort with no weights (iterations); it is not a cohort beside them."""
    canary = tmp_path / "canary.yaml"
    canary.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n"
        "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n"
        "  service: {port: 9898}\n"
        "  analysis:\n    interval: 1m\n    threshold: 5\n    iterations: 10\n    stepWeight: 10\n    maxWeight: 50\n"
        "    match: [{headers: {x-canary: {exact: insider}}}]\n"
    )
    imported = run_import(tmp_path, canary)
    assert imported.code == 0, imported.stderr
    assert set(imported.spec["strategy"]) == {"abTest"}
