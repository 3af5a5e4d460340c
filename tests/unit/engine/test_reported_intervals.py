"""What the sequential engine reports on a rate ratio: a ratio of 0 and an unbounded end are true
values, not the edges of the range searched (0.001 and 1000). Every reader shows them the same way:
the reason and the console line as 0 and ∞, the HTML report as 0 and ∞, and the status JSON as 0 and
null (JSON has no infinity), which reads back as ∞."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analysis.report import render_html
from analysis.sequential import SequentialJudge
from analysis.verdicts import Decision, MetricVerdict, Outcome
from rollout.cli import app
from rollout.judging import judged, numbers
from rollout.kube.document import RunInfo, compose, split, status_of
from rollout.report import report_data
from rollout.status import HistoryEntry, Phase, Status, Traffic
from rollout.store import FileStore
from rollout.trail import metric_line

from .helpers import ERRORS, config, errors_pair, step

JUDGE = SequentialJudge()


def _verdict(stable: tuple[float, float], canary: tuple[float, float], steps: int = 3) -> MetricVerdict:
    """The errors verdict after ``steps`` equal steps of (requests, errors) per arm."""
    history = tuple(step(i, {"errors": errors_pair(stable, canary)}) for i in range(steps))
    verdict = JUDGE.judge(history, config(ERRORS)).metric("errors")
    assert verdict is not None
    return verdict


def _no_canary_errors() -> MetricVerdict:
    return _verdict(stable=(900.0, 9.0), canary=(100.0, 0.0))


def _no_errors_yet() -> MetricVerdict:
    return _verdict(stable=(900.0, 0.0), canary=(100.0, 0.0))


def _status(*verdicts: MetricVerdict) -> Status:
    decision = Decision(Outcome.HOLD, "hold", "sequential", verdicts)
    entry = HistoryEntry(
        time=70.0,
        event=judged(decision),
        from_phase=Phase.PROGRESSING,
        to_phase=Phase.PROGRESSING,
        step=0,
        traffic=Traffic(canary_weight=10),
        reason="hold",
    )
    return Status(phase=Phase.PROGRESSING, step=0, started_at=0.0, history=(entry,))


def _both() -> Status:
    """A status judging a canary without errors (ratio 0) and a metric without errors yet (unbounded)."""
    return _status(_no_canary_errors(), replace(_no_errors_yet(), metric="errors-quiet"))


def test_a_canary_without_errors_over_a_stable_with_some_has_ratio_0_and_a_lower_bound_of_0() -> None:
    verdict = _no_canary_errors()
    assert verdict.estimate == 0.0
    assert verdict.interval is not None and verdict.interval[0] == 0.0 and 0.0 < verdict.interval[1] < math.inf
    assert "(ratio 0, CS [0, " in verdict.reason


def test_no_errors_in_either_arm_yet_leave_the_interval_unbounded_above() -> None:
    verdict = _no_errors_yet()
    assert verdict.estimate is None and verdict.interval == (0.0, math.inf)


def test_errors_only_in_the_canary_give_a_ratio_and_an_upper_bound_of_infinity() -> None:
    verdict = _verdict(stable=(900.0, 0.0), canary=(100.0, 3.0))
    assert verdict.estimate == math.inf
    assert verdict.interval is not None and verdict.interval[1] == math.inf
    assert "ratio ∞" in verdict.reason


def test_a_ratio_beyond_a_thousand_is_reported_as_it_is() -> None:
    # 1 error in a million stable requests, 100 in 10,000 canary requests: 0.01 / 0.000001 = 10,000.
    verdict = _verdict(stable=(1e6, 1.0), canary=(1e4, 100.0), steps=1)
    assert verdict.estimate == pytest.approx(1e4, rel=1e-9)
    assert verdict.outcome is Outcome.ROLLBACK and "(ratio 10000, CS [" in verdict.reason


def test_the_console_line_shows_0_and_infinity() -> None:
    assert "estimate 0 CS [0, " in metric_line(numbers(_no_canary_errors()))
    assert "estimate - CS [0, ∞]" in metric_line(numbers(_no_errors_yet()))


def test_the_status_json_stores_0_and_null_and_reads_them_back(tmp_path: Path) -> None:
    status = _both()
    path = tmp_path / "status.json"
    FileStore(path).save(status)  # what meshroll run --status-out writes

    def refuse(constant: str) -> float:
        raise AssertionError(f"{constant} is no JSON")

    document = json.loads(path.read_text(), parse_constant=refuse)
    zero, quiet = document["history"][0]["event"]["metrics"]
    assert zero["estimate"] == 0.0 and zero["interval"][0] == 0.0 and zero["interval"][1] is not None
    assert quiet["estimate"] is None and quiet["interval"] == [0.0, None]
    back = status_of(document)  # how meshroll report reads it
    assert back is not None and back.history[0].event == status.history[0].event  # null is ∞ again
    assert FileStore(path).load() == status


def test_the_controller_stores_an_unbounded_end_as_null_and_reads_it_back() -> None:
    status = _both()
    body = json.loads(json.dumps(compose(status, RunInfo(run=1), [], "a"), allow_nan=False))
    assert body["history"][0]["event"]["metrics"][1]["interval"] == [0.0, None]
    stored = split(body)
    assert stored.status is not None and stored.status.history == status.history


def test_the_report_shows_0_and_infinity() -> None:
    page = render_html(report_data(_both(), "demo"))
    assert "<td>0</td><td>[0, " in page  # estimate and interval of the canary without errors
    assert "<td>-</td><td>[0, ∞]</td>" in page  # no estimate yet, interval unbounded above
    assert "1.0e-03" not in page and "1e+03" not in page


def test_meshroll_report_reads_a_status_file_with_an_unbounded_end(tmp_path: Path) -> None:
    source, out = tmp_path / "status.json", tmp_path / "report.html"
    FileStore(source).save(_both())
    result = CliRunner().invoke(app, ["report", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "<td>[0, ∞]</td>" in out.read_text()
