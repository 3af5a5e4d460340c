"""Argo's failureLimit (failed measurements tolerated: the analysis fails past them) as the threshold engine's
analysis.failureThreshold, one more than the limit; the sequential engine counts no failed checks and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.importers.conftest import Imported, run_import

ROLLOUT = (
    "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: shop}\nspec:\n  strategy:\n    canary:\n"
    "      trafficRouting: {istio: {virtualService: {name: shop}, destinationRule: {name: shop}}}\n"
    "      analysis:\n        templates: [TEMPLATES]\n"
    "        args: [{name: service-name, value: shop.default.svc.cluster.local}, {name: limit, value: '2'}]\n"
    "      steps: [{setWeight: 10}]\n"
)
THRESHOLD = ("--engine", "threshold")


def rollout(tmp_path: Path, *templates: str) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(ROLLOUT.replace("TEMPLATES", ", ".join(f"{{templateName: {t}}}" for t in templates)))
    return path


def template(tmp_path: Path, **limits: str | None) -> Path:
    """An AnalysisTemplate ``check`` with one metric per keyword, each with that failureLimit (None: not set)."""
    metrics = "".join(
        f"  - name: {name}\n    successCondition: result[0] >= 0.95\n"
        + (f"    failureLimit: {limit}\n" if limit is not None else "")
        + "    provider: {prometheus: {query: 'sum(rate(ok_total[1m]))'}}\n"
        for name, limit in limits.items()
    )
    path = tmp_path / "template.yaml"
    path.write_text(
        f"apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {{name: check}}\nspec:\n"
        f"  metrics:\n{metrics}"
    )
    return path


def imported_ok(tmp_path: Path, *files: Path, options: tuple[str, ...] = THRESHOLD) -> Imported:
    imported = run_import(tmp_path, *files, options=options)
    assert imported.code == 0, imported.stderr
    return imported


def test_failure_limit_3_of_the_prometheus_docs_template_becomes_failure_threshold_4(
    peer: Path, tmp_path: Path
) -> None:
    docs = peer / "argo-analysistemplate-prometheus-docs.yaml"  # success-rate: failureLimit: 3
    imported = imported_ok(tmp_path, rollout(tmp_path, "success-rate"), docs)
    assert imported.spec["analysis"]["failureThreshold"] == 4
    assert "failureLimit: not translated" not in imported.stderr
    assert (
        "failureLimit 3 (success-rate) -> analysis.failureThreshold 4: Argo fails the analysis when more than 3 "
        "measurements fail, the threshold engine rolls back at 4 failed checks"
    ) in imported.comments


def test_the_dry_run_fragments_judged_metric_with_failure_limit_3_gives_failure_threshold_4(
    peer: Path, tmp_path: Path
) -> None:
    fragment = (peer / "argo-fragment-analysis-dryrun.yaml").read_text()  # an AnalysisTemplate's spec, indented
    wrapped = tmp_path / "dryrun.yaml"
    wrapped.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: errors}\nspec:\n" + fragment
    )
    imported = imported_ok(tmp_path, rollout(tmp_path, "errors"), wrapped)
    assert imported.spec["analysis"]["failureThreshold"] == 4
    assert "failureLimit 3 (total-4xx-errors) -> analysis.failureThreshold 4" in imported.comments  # 5xx: dry run


def test_a_template_without_failure_limit_takes_argos_default_0_as_failure_threshold_1(
    peer: Path, tmp_path: Path
) -> None:
    files = [peer / "argo-rollout-istio.yaml", peer / "argo-analysistemplate-prometheus.yaml"]  # no failureLimit
    imported = imported_ok(tmp_path, *files)
    assert imported.spec["analysis"]["failureThreshold"] == 1
    assert (
        "failureLimit not set (success-rate): Argo's default 0 fails the analysis at the first failed measurement, "
        "so analysis.failureThreshold 1"
    ) in imported.comments
    assert "rollback after 1 failed check (analysis.failureThreshold)" in imported.comments


def test_with_the_sequential_engine_failure_limit_is_listed_and_nothing_is_written(peer: Path, tmp_path: Path) -> None:
    docs = peer / "argo-analysistemplate-prometheus-docs.yaml"
    imported = imported_ok(tmp_path, rollout(tmp_path, "success-rate"), docs, options=())
    assert "failureThreshold" not in imported.spec["analysis"]
    assert (
        f"{docs}:AnalysisTemplate/success-rate:spec.metrics[0].failureLimit: not translated: 3: failed measurements "
        "tolerated: the sequential engine counts no failed checks, it bounds false rollbacks with analysis.alpha "
        "(with --engine threshold, failureLimit N becomes analysis.failureThreshold N+1)"
    ) in imported.stderr.splitlines()


def test_metrics_with_different_limits_take_the_lowest_and_list_the_others(tmp_path: Path) -> None:
    files = rollout(tmp_path, "check"), template(tmp_path, errors="1", latency="4", saturation=None)
    imported = imported_ok(tmp_path, *files)
    assert imported.spec["analysis"]["failureThreshold"] == 1, "saturation's default 0 is the lowest"
    assert "failureLimit not set (saturation): Argo's default 0 fails the analysis" in imported.comments
    imported = imported_ok(tmp_path, rollout(tmp_path, "check"), template(tmp_path, errors="1", latency="4"))
    assert imported.spec["analysis"]["failureThreshold"] == 2
    assert (
        "AnalysisTemplate/check:spec.metrics[1].failureLimit: not translated: 4: meshroll counts failed checks for "
        "the whole run, not per metric: analysis.failureThreshold is 2, from the lower failureLimit of errors, so "
        "failed checks of 'latency' roll back sooner than Argo would"
    ) in imported.stderr


def test_a_limit_of_0_is_one_failed_check(tmp_path: Path) -> None:
    imported = imported_ok(tmp_path, rollout(tmp_path, "check"), template(tmp_path, errors="0"))
    assert imported.spec["analysis"]["failureThreshold"] == 1
    assert "failureLimit 0 (errors) -> analysis.failureThreshold 1: Argo fails the analysis when more than 0 " in (
        imported.comments
    )
    assert "the threshold engine rolls back at 1 failed check (one per step" in imported.comments


@pytest.mark.parametrize(
    ("limit", "expected"),
    [("'3'", 4), ("'{{args.limit}}'", 3)],
    ids=["a string", "an argument"],
)
def test_a_limit_written_as_a_string_or_an_argument_is_read(tmp_path: Path, limit: str, expected: int) -> None:
    imported = imported_ok(tmp_path, rollout(tmp_path, "check"), template(tmp_path, errors=limit))
    assert imported.spec["analysis"]["failureThreshold"] == expected


@pytest.mark.parametrize(
    ("limit", "note"),
    [
        ("-1", "-1: Argo never fails the analysis on metric 'errors', however many measurements fail"),
        ("lots", "'lots' is not a number of failed measurements; set analysis.failureThreshold by hand"),
    ],
)
def test_a_limit_that_is_no_count_is_listed_and_the_engine_default_kept(tmp_path: Path, limit: str, note: str) -> None:
    imported = imported_ok(tmp_path, rollout(tmp_path, "check"), template(tmp_path, errors=limit))
    assert "failureThreshold" not in imported.spec["analysis"]
    assert f"AnalysisTemplate/check:spec.metrics[0].failureLimit: not translated: {note}" in imported.stderr
