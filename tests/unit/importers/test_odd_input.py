"""Input shaped oddly: kubectl's List, JSON, values of the wrong type, deep nesting, one name twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import one_line_error
from tests.unit.importers.conftest import run_import

CANARY = (
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: cart}\n"
    "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: cart}\n"
)


def test_the_items_of_a_kubectl_list_are_imported(tmp_path: Path) -> None:
    listed = tmp_path / "canaries.yaml"
    listed.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: flagger.app/v1beta1\n  kind: Canary\n  metadata: {name: cart, namespace: shop}\n"
        "  spec:\n    targetRef: {name: cart}\n    analysis: {interval: 1m, stepWeight: 10, maxWeight: 30}\n"
    )
    imported = run_import(tmp_path, listed)
    assert imported.code == 0, imported.stderr
    assert imported.experiment["metadata"] == {"name": "cart", "namespace": "shop"}


def test_json_anchors_unicode_and_empty_documents_are_read(tmp_path: Path) -> None:
    as_json = tmp_path / "canary.json"
    as_json.write_text(
        '{"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "metadata": {"name": "cart", '
        '"labels": {"team": "caf\\u00e9-\\u56e2\\u961f"}}, "spec": {"targetRef": {"name": "cart"}, '
        '"analysis": {"interval": "30s", "stepWeights": [5, 20]}}}'
    )
    imported = run_import(tmp_path, as_json)
    assert imported.code == 0, imported.stderr
    assert imported.experiment["metadata"]["labels"] == {"team": "café-团队"}
    anchored = tmp_path / "anchored.yaml"
    anchored.write_text(
        "---\n---\n" + CANARY + "  analysis:\n    <<: &schedule {interval: 2m, stepWeight: 20}\n    maxWeight: 60\n"
    )
    assert run_import(tmp_path, anchored).spec["strategy"]["canary"] == {
        "stepWeight": 20,
        "maxWeight": 60,
        "stepInterval": "2m",
    }


@pytest.mark.parametrize(
    "analysis",
    [
        "{interval: 1m, stepWeight: 10, maxWeight: null}",
        "{interval: 1m, stepWeight: 10, maxWeight: 50, metrics: [{name: request-duration, thresholdRange: {max: []}}]}",
    ],
)
def test_a_flagger_value_of_the_wrong_type_is_a_note_not_a_traceback(tmp_path: Path, analysis: str) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY + f"  service: null\n  analysis: {analysis}\n")
    imported = run_import(tmp_path, canary)
    assert imported.code == 0, imported.stderr
    assert "not translated" in imported.stderr


@pytest.mark.parametrize(
    "canary",
    [
        "trafficRouting: {istio: {virtualServices: [7, {name: a, routes: {x: 1}}], destinationRule: {name: a}}}",
        "trafficRouting: {istio: {virtualService: {name: a, routes: 5}, destinationRule: {name: a}}}",
        "steps: [{setMirrorRoute: {name: m, percentage: many}}]",
        "steps: [{experiment: {duration: 5m, templates: 3}}]",
        "stableService: web\nsteps: [{setWeight: 10}]",  # with a Service whose ports is not a list
    ],
)
def test_an_argo_value_of_the_wrong_type_is_a_note_not_a_traceback(tmp_path: Path, canary: str) -> None:
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  strategy:\n    canary:\n"
        + "".join(f"      {line}\n" for line in canary.splitlines())
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: {http: 80}}\n"
    )
    imported = run_import(tmp_path, rollout)
    assert imported.code in (0, 1), imported.stderr
    assert imported.code == 0 or imported.stderr.startswith("meshroll: ")


def test_nesting_too_deep_is_refused_as_such(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text(CANARY + "  analysis: {stepWeight: 10, match: " + "[" * 3000 + "]" * 3000 + "}\n")
    assert "nested too deeply to read" in one_line_error(["import", str(deep)])


def test_two_releases_of_one_name_are_refused_and_a_file_named_twice_is_read_once(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    for path in (first, second):
        path.write_text(CANARY + "  analysis: {interval: 1m, stepWeight: 10, maxWeight: 30}\n")
    assert f"{second}: Flagger Canary default/cart is also in {first}" in one_line_error(
        ["import", str(first), str(second)]
    )
    assert run_import(tmp_path, first, first).code == 0
