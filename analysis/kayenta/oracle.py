"""Run Kayenta's own test cases (``kayenta-cases.json``) against this port.

The only I/O of the package: reading the case file. Kinds ``config_lookup`` (Kayenta's
configuration plumbing) and ``scenario`` (stochastic end-to-end runs) are skipped; ``random``
cases run their tolerance assertions on a seeded ``java.util.Random``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.kayenta.errors import OracleFileError
from analysis.kayenta.oracle_checks import KindCheck
from analysis.kayenta.oracle_fields import Fields
from analysis.kayenta.oracle_judge import JUDGE_CHECKS
from analysis.kayenta.oracle_stats import STATS_CHECKS

CHECKS: dict[str, KindCheck] = {**STATS_CHECKS, **JUDGE_CHECKS}
SKIPPED_KINDS = {
    "config_lookup": "about Kayenta's configuration lookups, not the judge",
    "scenario": "a stochastic end-to-end run against Prometheus",
}


@dataclass(frozen=True)
class OracleReport:
    """How many cases passed, failed and were skipped; one line per failing case."""

    passed: int
    failed: int
    skipped: int
    failures: list[str] = field(default_factory=list)
    skipped_kinds: dict[str, int] = field(default_factory=dict)  # kind -> cases of it skipped


@dataclass(frozen=True)
class OracleCase:
    name: str
    kind: str
    fields: Fields

    def location(self) -> str:
        source = self.fields.data.get("source")
        if not isinstance(source, Mapping) or not isinstance(source.get("path"), str):
            return self.fields.where
        lines = source.get("lines")
        if isinstance(lines, list) and len(lines) == 2:
            return f"{source['path']}:{lines[0]}-{lines[1]}"
        return str(source["path"])


def _read_json(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OracleFileError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise OracleFileError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise OracleFileError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from exc
    except RecursionError:
        raise OracleFileError(f"{path}: its JSON is nested too deeply for an oracle file") from None


def _case(path: Path, index: int, raw: object) -> OracleCase:
    if not isinstance(raw, Mapping):
        raise OracleFileError(f"{path}: cases[{index}] must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise OracleFileError(f"{path}: cases[{index}] has no name (a non-empty string)")
    fields = Fields(raw, f"{path}: case {index} ({name!r})")
    kind = fields.string("kind")
    if kind not in CHECKS and kind not in SKIPPED_KINDS:
        fields.fail("kind", f"{kind!r} is not a known kind ({', '.join(sorted([*CHECKS, *SKIPPED_KINDS]))})")
    if kind in CHECKS:
        _check_expected_keys(fields, kind, CHECKS[kind])
    return OracleCase(name, kind, fields)


def _check_expected_keys(fields: Fields, kind: str, check: KindCheck) -> None:
    """A key the check does not read would pass unchecked, and so would an ``expected`` that compares nothing."""
    expected = fields.child("expected")
    known = check.known_keys()
    unknown = [key for key in expected.data if key not in known]
    if unknown:
        expected.fail(unknown[0], f"is not a key a {kind} case checks (it knows {', '.join(known)})")
    if not any(key in expected.data for key in check.checks):
        fields.fail("expected", f"checks nothing: give at least one of {', '.join(check.checks)}")


def load_cases(path: Path) -> list[OracleCase]:
    """The cases of an oracle file. Raises OracleFileError saying where the file is wrong."""
    data = _read_json(path)
    if not isinstance(data, Mapping) or not isinstance(data.get("cases"), list):
        raise OracleFileError(f'{path}: the top level must be an object with a "cases" list')
    if not data["cases"]:
        raise OracleFileError(f'{path}: its "cases" list is empty: there is nothing to check')
    return [_case(path, index, raw) for index, raw in enumerate(data["cases"])]


def check_case(case: OracleCase) -> str | None:
    """None when the case passes, else its failure line. OracleFileError for a malformed case."""
    try:
        with np.errstate(all="ignore"):
            found = CHECKS[case.kind].run(case.fields)
    except OracleFileError:
        raise
    except Exception as exc:  # a crash of the port on a case is that case's failure
        mismatches = [f"raised {exc!r}"]
    else:
        mismatches = found.lines if found.compared else ["compared nothing: its expected values are empty"]
    if not mismatches:
        return None
    return f"{case.kind} {case.name!r} ({case.location()}): {'; '.join(mismatches)}"


def run_oracle_file(path: Path) -> OracleReport:
    """Check every deterministic (and seeded random) case of the file."""
    passed = skipped = 0
    failures: list[str] = []
    kinds: dict[str, int] = {}
    for case in load_cases(path):
        if case.kind in SKIPPED_KINDS:
            skipped += 1
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
            continue
        failure = check_case(case)
        if failure is None:
            passed += 1
        else:
            failures.append(failure)
    if not passed and not failures:
        raise OracleFileError(
            f"{path}: every case is of a kind skipped ({', '.join(sorted(kinds))}): nothing was checked"
        )
    return OracleReport(passed, len(failures), skipped, failures, kinds)


def format_report(report: OracleReport) -> list[str]:
    """The lines to print: each failure, then ``N passed, M failed`` (and ``, K skipped``)."""
    summary = f"{report.passed} passed, {report.failed} failed"
    if report.skipped:
        summary += f", {report.skipped} skipped"
        if report.skipped_kinds:
            why = "; ".join(f"{n} {kind}: {SKIPPED_KINDS[kind]}" for kind, n in sorted(report.skipped_kinds.items()))
            summary += f" ({why})"
    return [*report.failures, summary]
