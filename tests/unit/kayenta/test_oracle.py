"""Every deterministic case of Kayenta's own tests, and the runner's report and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.kayenta.errors import OracleFileError
from analysis.kayenta.oracle import (
    OracleCase,
    OracleReport,
    check_case,
    format_report,
    load_cases,
    run_oracle_file,
)
from tests.unit.kayenta.oracle_path import ORACLE_FILE

NON_DETERMINISTIC = {"random", "config_lookup", "scenario"}


def _deterministic_cases() -> list[OracleCase]:
    if not ORACLE_FILE.exists():
        return []
    return [case for case in load_cases(ORACLE_FILE) if case.kind not in NON_DETERMINISTIC]


CASES = _deterministic_cases()


@pytest.mark.skipif(not ORACLE_FILE.exists(), reason=f"no oracle file at {ORACLE_FILE}")
def test_the_oracle_holds_every_deterministic_kind() -> None:
    kinds = {case.kind for case in CASES}
    assert {"classifier", "scorer", "mann_whitney_ci", "mann_whitney_intermediate", "wilcoxon_diff"} <= kinds
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}: {c.name}" for c in CASES])
def test_deterministic_case(case: OracleCase) -> None:
    assert check_case(case) is None


@pytest.mark.skipif(not ORACLE_FILE.exists(), reason=f"no oracle file at {ORACLE_FILE}")
def test_the_whole_file_passes_with_seeded_random_cases() -> None:
    report = run_oracle_file(ORACLE_FILE)
    assert report.failed == 0, report.failures
    random_cases = sum(1 for case in load_cases(ORACLE_FILE) if case.kind == "random")
    assert report.passed == len(CASES) + random_cases
    assert format_report(report)[-1].startswith(f"{report.passed} passed, 0 failed, {report.skipped} skipped (")
    assert sum(report.skipped_kinds.values()) == report.skipped
    assert "config_lookup: about Kayenta's configuration lookups, not the judge" in format_report(report)[-1]


def test_format_report_lists_failures_then_the_counts() -> None:
    report = OracleReport(passed=3, failed=1, skipped=0, failures=["classifier 'x' (a.scala:1-2): boom"])
    assert format_report(report) == ["classifier 'x' (a.scala:1-2): boom", "3 passed, 1 failed"]


def _case_file(tmp_path: Path, case: dict[str, object]) -> Path:
    path = tmp_path / "cases.json"
    path.write_text(json.dumps({"cases": [case]}))
    return path


SCORER_CASE: dict[str, object] = {
    "name": "one pass",
    "kind": "scorer",
    "source": {"path": "ScorerSuite.scala", "lines": [1, 9]},
    "params": {
        "groupWeights": {},
        "metricResults": [{"name": "m", "classification": "Pass", "groups": ["g"], "critical": False}],
    },
    "expected": {"summaryScore": 100.0},
}


def test_a_wrong_expectation_is_one_failure_line_naming_the_case(tmp_path: Path) -> None:
    case = {**SCORER_CASE, "expected": {"summaryScore": 50.0}}
    report = run_oracle_file(_case_file(tmp_path, case))
    assert (report.passed, report.failed, report.skipped) == (0, 1, 0)
    assert report.failures == ["scorer 'one pass' (ScorerSuite.scala:1-9): summaryScore expected 50.0, got 100.0"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cases": [', "cases.json:1:12: not valid JSON"),
        ("[]", 'the top level must be an object with a "cases" list'),
        ('{"cases": [{"name": "x", "kind": "nope"}]}', "case 0 ('x'): kind 'nope' is not a known kind"),
        ('{"cases": [{"kind": "scorer"}]}', "cases[0] has no name"),
        ("[" * 100_000 + "]" * 100_000, "cases.json: its JSON is nested too deeply for an oracle file"),
    ],
)
def test_a_malformed_file_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "cases.json"
    path.write_text(content)
    with pytest.raises(OracleFileError) as caught:
        run_oracle_file(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_malformed_field_names_the_case_and_the_field(tmp_path: Path) -> None:
    case = {**SCORER_CASE, "expected": {"summaryScore": "high"}}
    with pytest.raises(OracleFileError) as caught:
        run_oracle_file(_case_file(tmp_path, case))
    assert str(caught.value).endswith("case 0 ('one pass'): expected.summaryScore must be a number, got 'high'")


def test_a_missing_file_is_an_oracle_file_error(tmp_path: Path) -> None:
    with pytest.raises(OracleFileError, match="cannot read the file"):
        run_oracle_file(tmp_path / "absent.json")


def test_the_oracle_command_passes_every_deterministic_case() -> None:
    from typer.testing import CliRunner

    from rollout.cli import app

    result = CliRunner().invoke(app, ["oracle", "kayenta", str(ORACLE_FILE)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("71 passed, 0 failed")


CLASSIFIER_CASE: dict[str, object] = {
    "name": "high",
    "kind": "classifier",
    "params": {
        "classifier": "MeanInequalityClassifier",
        "direction": "either",
        "nanStrategy": "remove",
        "isCriticalMetric": False,
        "isDataRequired": False,
    },
    "control": [1.0, 2.0, 3.0],
    "experiment": [10.0, 20.0, 30.0],
    "expected": {"classification": "High"},
}


def test_a_misspelt_expected_key_is_an_error_naming_the_case_the_key_and_the_known_keys(tmp_path: Path) -> None:
    case = {**CLASSIFIER_CASE, "expected": {"classificaton": "High"}}
    with pytest.raises(OracleFileError) as caught:
        run_oracle_file(_case_file(tmp_path, case))
    assert str(caught.value).endswith(
        "case 0 ('high'): expected.classificaton is not a key a classifier case checks "
        "(it knows classification, critical, deviation, reason_non_empty)"
    )


@pytest.mark.parametrize("expected", [{}, {"mean_abs_tol": 0.1}])
def test_an_expected_that_compares_nothing_is_an_error_not_a_pass(tmp_path: Path, expected: object) -> None:
    case = {**CLASSIFIER_CASE, "kind": "random", "params": {"fn": "normal", "mean": 0, "stdev": 1, "numSamples": 3}}
    with pytest.raises(OracleFileError) as caught:
        run_oracle_file(_case_file(tmp_path, {**case, "expected": expected}))
    assert str(caught.value).endswith(
        "case 0 ('high'): expected checks nothing: give at least one of mean, variance, stdev, length, values"
    )


def test_the_classifier_case_used_above_passes_as_written(tmp_path: Path) -> None:
    report = run_oracle_file(_case_file(tmp_path, CLASSIFIER_CASE))
    assert (report.passed, report.failed) == (1, 0), report.failures


def test_an_empty_list_of_percentile_checks_fails_as_comparing_nothing(tmp_path: Path) -> None:
    case = {"name": "p", "kind": "percentile", "source": {"path": "P.scala", "lines": [1, 2]}}
    case |= {"experiment": [1.0, 2.0], "expected": {"checks": []}}
    report = run_oracle_file(_case_file(tmp_path, case))
    assert (report.passed, report.failed) == (0, 1)
    assert report.failures == ["percentile 'p' (P.scala:1-2): compared nothing: its expected values are empty"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"cases": []}', 'cases.json: its "cases" list is empty: there is nothing to check'),
        (
            '{"cases": [{"name": "c", "kind": "scenario"}]}',
            "cases.json: every case is of a kind skipped (scenario): nothing was checked",
        ),
    ],
)
def test_a_file_that_checks_nothing_fails_the_command_with_one_line(tmp_path: Path, content: str, message: str) -> None:
    from tests.cli_errors import one_line_error

    path = tmp_path / "cases.json"
    path.write_text(content)
    assert one_line_error(["oracle", "kayenta", str(path)]).strip().endswith(message)
