"""A migrator's mistakes end in one line that points the right way: a bad value is refused, never replaced by
a default in a file you will apply; an old field name, a fragment and an unknown apiVersion are said as such.
And what the import writes or loses is said where it is seen: no folder made for a mistyped -o, a lost step
weight on stderr, the cookie attributes meshroll's route cannot set, the traffic router it cannot use."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_errors import one_line_error
from tests.unit.importers.conftest import run_import, write_rollout

CANARY = (
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: web, namespace: shop}\nspec:\n"
    "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
)


@pytest.mark.parametrize(
    ("analysis", "expected"),
    [
        ("{interval: 1 minute, stepWeight: 10, maxWeight: 30}", "interval: interval '1 minute' is not a duration"),
        ("{interval: 0s, stepWeight: 10, maxWeight: 30}", "interval: interval '0s' is not above 0"),
        ("{interval: 1m, stepWeight: 10, maxWeight: 150}", "maxWeight: 150 is out of range; give maxWeight"),
        ("{interval: 1m, stepWeight: 10, maxWeight: lots}", "maxWeight: 'lots' is not a number"),
        ("{interval: 1m, stepWeight: ten, maxWeight: 30}", "stepWeight: 'ten' is not a number; give a whole percent"),
        ("{interval: 1m, stepWeights: [10, twenty]}", "stepWeights[1]: 'twenty' is not a number"),
        ("{interval: 1m, iterations: 10, mirror: true, mirrorWeight: 0}", "mirrorWeight: 0 is out of range"),
        ("{interval: 1m, stepWeight: 10, sessionAffinity: {cookieName: c, maxAge: -5}}", "maxAge: -5 is out of range"),
    ],
)
def test_a_bad_value_is_refused_in_one_line_not_replaced_by_a_default(
    tmp_path: Path, analysis: str, expected: str
) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY + f"  analysis: {analysis}\n")
    output = one_line_error(["import", str(canary), "-o", str(tmp_path / "out.yaml")])
    assert f"{canary}:spec.analysis." in output and expected in output, output
    assert not (tmp_path / "out.yaml").exists()


def test_an_argo_pause_that_is_no_duration_is_refused(tmp_path: Path) -> None:
    rollout = write_rollout(tmp_path, "steps: [{setWeight: 10}, {pause: {duration: 1 minute}}]")
    assert "steps[1].pause.duration: pause '1 minute' is not a duration" in one_line_error(["import", str(rollout)])


def test_flaggers_old_canary_analysis_is_said_to_be_renamed(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(
        CANARY.replace("v1beta1", "v1alpha3") + "  canaryAnalysis: {interval: 1m, stepWeight: 5, maxWeight: 50}\n"
    )
    output = one_line_error(["import", str(canary)])
    assert "spec.canaryAnalysis: Flagger's old name (flagger.app/v1alpha3): rename it to spec.analysis" in output


def test_an_unknown_api_version_is_a_note(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY.replace("v1beta1", "v2") + "  analysis: {interval: 1m, stepWeight: 10, maxWeight: 30}\n")
    imported = run_import(tmp_path, canary)
    assert imported.code == 0, imported.stderr
    assert "canary.yaml:apiVersion: not translated: flagger.app/v2: meshroll import knows flagger.app/v1beta1" in (
        imported.stderr
    )
    assert "apiVersion" not in run_import(tmp_path, write_rollout(tmp_path, "steps: [{setWeight: 10}]")).stderr


def test_a_fragment_is_said_to_lack_api_version_and_kind(peer: Path) -> None:
    output = one_line_error(["import", str(peer / "flagger-fragment-webhooks-all-types.yaml")])
    assert "1 document has no apiVersion and kind, a fragment" in output and "give whole manifests" in output


def test_an_output_in_a_missing_folder_is_refused_and_no_folder_is_made(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY + "  analysis: {interval: 1m, stepWeight: 10, maxWeight: 30}\n")
    out = tmp_path / "missing" / "dir" / "x.yaml"
    output = one_line_error(["import", str(canary), "-o", str(out)])
    assert f"-o {out}: the folder {out.parent} does not exist" in output
    assert not (tmp_path / "missing").exists()


def test_step_weights_left_out_are_on_stderr_not_only_in_the_comments(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY + "  analysis: {interval: 1m, stepWeights: [10, 5, 50, 100]}\n")
    imported = run_import(tmp_path, canary)
    assert imported.spec["strategy"]["canary"]["steps"] == [10, 50]
    assert "spec.analysis.stepWeights: not translated: [10, 5, 50, 100] as steps [10, 50]" in imported.stderr
    assert "so 5 is left out" in imported.stderr
    canary.write_text(CANARY + "  analysis: {interval: 1m, stepWeights: [10, 50, 100]}\n")  # 100: the promotion
    assert "stepWeights" not in run_import(tmp_path, canary).stderr


def test_cookie_attributes_are_said_to_be_out_of_the_applications_reach(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(
        CANARY + "  analysis: {interval: 1m, stepWeight: 10, maxWeight: 30, sessionAffinity: {cookieName: c, "
        "secure: true}}\n"
    )
    stderr = run_import(tmp_path, canary).stderr
    assert "sessionAffinity.secure: not translated: meshroll's route sets the cookie" in stderr
    assert "your application cannot add secure to it" in stderr
    assert "set secure in your application" not in stderr


def test_an_argo_traffic_router_meshroll_cannot_use_is_named(tmp_path: Path) -> None:
    rollout = write_rollout(tmp_path, "trafficRouting: {nginx: {stableIngress: web}}\nsteps: [{setWeight: 10}]")
    assert "trafficRouting: not translated: traffic router nginx: meshroll routes with istio" in (
        run_import(tmp_path, rollout).stderr
    )
