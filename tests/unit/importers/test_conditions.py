"""Argo successCondition / failureCondition forms as ranges, guards for empty and NaN results included."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.importers.conftest import run_import

ROLLOUT = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: shop}\nspec:\n  strategy:\n    canary:\n"
    "      trafficRouting: {istio: {virtualService: {name: shop}, destinationRule: {name: shop}}}\n"
    "      analysis: {templates: [{templateName: check}]}\n      steps: [{setWeight: 10}]\n---\n"
    "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: check}\nspec:\n  metrics:\n"
    "  - name: ratio\n    provider: {prometheus: {query: 'sum(rate(ok_total[1m]))'}}\n"
)


def _range(tmp_path: Path, conditions: str) -> tuple[dict[str, float] | None, str]:
    path = tmp_path / "rollout.yaml"
    path.write_text(ROLLOUT + "".join(f"    {line}\n" for line in conditions.splitlines()))
    imported = run_import(tmp_path, path)
    assert imported.code == 0, imported.stderr
    metric = next(m for m in imported.spec["analysis"]["metrics"] if m["name"] == "ratio")
    return metric.get("thresholdRange"), imported.stderr


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ("successCondition: result[0] >= 0.95", {"min": 0.95}),
        ("successCondition: result >= 0.95", {"min": 0.95}),
        ("successCondition: len(result) == 0 || result[0] < 0.5", {"max": 0.5}),
        ("successCondition: isNaN(result[0]) || result[0] <= 2", {"max": 2}),
        ("successCondition: len(result) > 0 && result[0] > 0.9", {"min": 0.9}),
        ("successCondition: 0.9 <= result[0]", {"min": 0.9}),
        ("successCondition: result[0] >= 0.9 && result[0] <= 1.5", {"min": 0.9, "max": 1.5}),
        ("failureCondition: result[0] > 500 || isNaN(result[0])", {"max": 500}),
        ("failureCondition: result[0] < 0 || result[0] >= 1", {"min": 0, "max": 1}),
    ],
)
def test_a_condition_with_guards_becomes_a_range(tmp_path: Path, conditions: str, expected: dict[str, float]) -> None:
    found, stderr = _range(tmp_path, conditions)
    assert found == expected
    assert "Condition: not translated" not in stderr


def test_a_failure_condition_on_nan_alone_is_explained_not_listed(tmp_path: Path) -> None:
    found, stderr = _range(tmp_path, "successCondition: result[0] >= 0.95\nfailureCondition: isNaN(result)")
    assert found == {"min": 0.95}
    assert "failureCondition: not translated" not in stderr


@pytest.mark.parametrize(
    "conditions",
    [
        "successCondition: default(result[0], 0) >= 0.9",
        "successCondition: result[0] >= 1 || result[0] < 0",  # accepted outside an interval: no one range
        "successCondition: result[0] == 0",
        "successCondition: isNaN(result)",
    ],
)
def test_a_condition_that_is_no_range_is_listed(tmp_path: Path, conditions: str) -> None:
    found, stderr = _range(tmp_path, conditions)
    assert found is None
    assert "successCondition: not translated: condition" in stderr


def test_a_band_that_meets_neither_condition_is_said_to_become_failed_checks(tmp_path: Path) -> None:
    """Argo counts a value between the two Inconclusive (the rollout pauses); meshroll has one range."""
    conditions = "successCondition: len(result) == 0 || result[0] <= 0.01\nfailureCondition: result[0] > 0.05"
    found, stderr = _range(tmp_path, conditions)
    assert found == {"max": 0.01}
    (line,) = [n for n in stderr.splitlines() if "meets neither" in n]
    assert "successCondition: not translated: a value above 0.01 up to 0.05 meets neither" in line
    assert "Argo counts it Inconclusive, which pauses the rollout" in line
    assert "such a value is a failed check" in line and "(max 0.05)" in line


def test_conditions_that_leave_no_value_between_them_have_no_band(tmp_path: Path) -> None:
    found, stderr = _range(tmp_path, "successCondition: result[0] >= 0.95\nfailureCondition: result[0] < 0.95")
    assert found == {"min": 0.95}
    assert "meets neither" not in stderr
