"""The engine note tells apart the margins it explains: relative for error and latency metrics, absolute for
a gauge, in the unit of its query's result, each with its value, so a user can check it against the scale."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import run_import


def test_a_gauges_margin_is_said_to_be_absolute_in_its_unit_with_its_value(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "argo-rollout-istio.yaml", peer / "argo-analysistemplate-prometheus.yaml")
    assert imported.code == 0, imported.stderr
    metric = next(m for m in imported.spec["analysis"]["metrics"] if m["name"] == "success-rate")
    assert metric["margin"] == 0.1 and metric["thresholdRange"] == {"min": 0.9}  # a ratio from 0 to 1
    comments = imported.comments
    assert "0.1 = 10% worse" not in comments
    assert (
        "a gauge's margin is not relative but absolute, in the unit of its query's result: success-rate (range "
        "min 0.9) margin 0.1: the canary may be up to 0.1 below stable"
    ) in comments
    assert "for a success rate from 0 to 1, a margin of 0.1 tolerates a 10-point drop" in comments


def test_without_a_gauge_only_the_relative_margins_are_explained(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-istio.yaml")  # the built-in metrics alone
    assert "margins are relative (0.1: 10% more errors, or 10% more slow requests)" in imported.comments
    assert "a gauge's margin" not in imported.comments
