"""Every key of a Flagger metric entry is translated or listed, as keys elsewhere are: unknown ones, variables
a built-in metric cannot read, the legacy inline query (carried over as a template) and threshold; and Argo's
default consecutiveErrorLimit, which aborts where meshroll holds, is explained."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import Imported, run_import

CANARY = (
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: shop}\nspec:\n"
    "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
    "  analysis:\n    interval: 1m\n    stepWeight: 10\n    maxWeight: 30\n    metrics:\n"
)


def _imported(tmp_path: Path, metrics: str) -> Imported:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY + "".join(f"    {line}\n" for line in metrics.strip().splitlines()))
    imported = run_import(tmp_path, canary)
    assert imported.code == 0, imported.stderr
    return imported


def test_unknown_keys_in_a_metric_entry_are_listed(tmp_path: Path) -> None:
    imported = _imported(
        tmp_path,
        "- {name: request-duration, thresholdRange: {max: 500}, weirdNewField: 42, alertThreshold: 3, "
        "templateVariables: {x: y}}",
    )
    for key in ("weirdNewField: not translated: 42", "alertThreshold: not translated: 3"):
        assert f"spec.analysis.metrics[0].{key}: meshroll has no equivalent" in imported.stderr, key
    assert "metrics[0].templateVariables: not translated: only a templateRef's query reads variables" in (
        imported.stderr
    )
    assert "metrics[0].thresholdRange" not in imported.stderr and "metrics[0].name" not in imported.stderr


def test_a_legacy_inline_query_is_carried_over_as_a_template(tmp_path: Path) -> None:
    imported = _imported(tmp_path, "- {name: legacy-inline, threshold: 5, query: 'sum(rate(http_errors_total[1m]))'}")
    analysis = imported.spec["analysis"]
    assert analysis["templates"] == [
        {"name": "legacy-inline", "kind": "gauge", "value": "sum(rate(http_errors_total[1m]))"}
    ]
    metric = next(m for m in analysis["metrics"] if m["name"] == "legacy-inline")
    assert metric["template"] == "legacy-inline" and metric["thresholdRange"] == {"max": 5}  # Flagger: fail above
    assert "neither a Flagger builtin" not in imported.stderr
    assert "metrics[0].query: not translated: the query measures one selection" in imported.stderr


def test_a_legacy_threshold_is_the_bound_flagger_read_it_as(tmp_path: Path) -> None:
    imported = _imported(
        tmp_path, "- {name: request-success-rate, threshold: 99}\n- {name: request-duration, threshold: 500}"
    )
    success, duration = imported.spec["analysis"]["metrics"]
    assert success["thresholdRange"] == {"min": 99} and duration["thresholdRange"] == {"max": 500}
    assert "the legacy threshold 99 -> thresholdRange min 99" in imported.comments


def test_argos_default_consecutive_error_limit_is_explained_once(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "argo-rollout-istio.yaml", peer / "argo-analysistemplate-prometheus.yaml")
    assert imported.comments.count("consecutiveErrorLimit not set: Argo aborts the rollout past 4 query errors") == 1
    assert "meshroll holds the step instead and spends analysis.failureBudget" in imported.comments
