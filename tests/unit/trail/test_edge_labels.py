"""Wherever a latency metric's estimate, CS or rates are shown, they say which edge they are for, and an e-value
that is the mean over several edges says so: the console line, the status JSON, Kubernetes Events, Slack and
webhooks, the summary table and the report."""

from __future__ import annotations

import json

from analysis.report import render_html
from analysis.verdicts import MetricVerdict, Outcome
from rollout.cli.run_commands import decided_by
from rollout.events import Judged, MetricNumbers
from rollout.judging import numbers
from rollout.kube.events import describe
from rollout.machine import Notify
from rollout.notify.blocks import event_blocks
from rollout.notify.facts import as_json, facts, metric_line
from rollout.report import report_data
from rollout.status import HistoryEntry, Phase, Status, Traffic
from rollout.trail import metric_line as console_line
from tests.unit.notify import events

VERDICT = MetricVerdict(
    metric="latency",
    outcome=Outcome.ROLLBACK,
    reason="requests slower than 25 ms: canary 51.54% vs stable 38.56% (...)",
    estimate=1.34,
    interval=(1.2, 1.46),
    e_value=128.0,
    p_value=0.0078,
    threshold=100.0,
    stable_n=5417,
    canary_n=5444,
    stable_value=0.3856,
    canary_value=0.5154,
    edge="25 ms",
    edges=2,
    margin_at=(1.2,),
)
LATENCY = numbers(VERDICT)


def test_the_recorded_numbers_carry_the_edge_the_edge_count_and_the_margin() -> None:
    assert (LATENCY.edge, LATENCY.edges, LATENCY.margin_at) == ("25 ms", 2, (1.2,))
    stored = json.loads(LATENCY.model_dump_json(by_alias=True))
    assert stored["edge"] == "25 ms" and stored["edges"] == 2 and stored["marginAt"] == [1.2]
    assert MetricNumbers.model_validate(stored) == LATENCY
    errors = numbers(MetricVerdict("error-rate", Outcome.HOLD, "r", margin_at=(1.1,)))
    assert errors.edge is None and errors.edges is None, "only latency metrics have edges"


def test_the_console_line_names_the_edge_and_the_mean_over_edges() -> None:
    line = console_line(LATENCY)
    assert line.startswith("latency (> 25 ms): ROLLBACK; stable 0.386 canary 0.515; estimate 1.34 CS [1.2, 1.46]")
    assert "e=128 (mean over 2 edges) (n=5417/5444)" in line
    single = LATENCY.model_copy(update={"edges": 1})
    assert "mean over" not in console_line(single) and console_line(single).startswith("latency (> 25 ms)")


def test_the_summary_table_cell_names_the_edge() -> None:
    judged = Judged(outcome="rollback", engine="sequential", reason="rollback: ...", metrics=(LATENCY,))
    entry = HistoryEntry(time=1.0, event=judged, from_phase=Phase.PROGRESSING, to_phase=Phase.ROLLING_BACK, step=0,
                         traffic=Traffic(canary_weight=50), reason="rollback: ...")  # fmt: skip
    status = Status(phase=Phase.ROLLED_BACK, history=(entry,))
    assert decided_by(status) == "latency (> 25 ms): ratio 1.34, e-value 128 (mean over 2 edges)"
    note = describe(entry, run=1).note
    assert "latency (> 25 ms) rollback est=1.34 cs=[1.2, 1.46] e=128 (mean over 2 edges)" in note


def test_notifications_name_the_edge_and_call_the_interval_a_cs() -> None:
    assert metric_line(LATENCY).startswith("requests slower than 25 ms: estimate 1.34, CS [1.2, 1.46], e-value 128 ")
    assert "e-value 128 (mean over 2 edges)" in metric_line(LATENCY)
    judged = Judged(outcome="rollback", engine="sequential", reason="latency regressed", metrics=(LATENCY,))
    f = facts(events.experiment(), events.status(weight=50), Notify("rolled-back", "Rolled back", "r", judged))
    body = as_json(f)["metrics"][0]
    assert (body["edge"], body["edges"], body["marginAt"]) == ("25 ms", 2, [1.2])
    shown = json.dumps(event_blocks(f), ensure_ascii=False)
    assert "requests slower than 25 ms: estimate 1.34, CS [1.2, 1.46]" in shown and "interval [" not in shown


def test_the_report_labels_the_edge_and_draws_the_margin() -> None:
    judged = Judged(outcome="hold", engine="sequential", reason="hold", metrics=(LATENCY,))
    other = Judged(outcome="rollback", engine="sequential", reason="rollback",
                   metrics=(LATENCY.model_copy(update={"edge": "50 ms"}),))  # fmt: skip
    history = tuple(
        HistoryEntry(
            time=t,
            event=e,
            from_phase=Phase.PROGRESSING,
            to_phase=Phase.PROGRESSING,
            step=0,
            traffic=Traffic(canary_weight=50),
            reason="r",
        )
        for t, e in ((2.0, judged), (4.0, other))
    )
    page = render_html(report_data(Status(phase=Phase.PROGRESSING, started_at=0.0, history=history), "t"))
    assert "<h2>latency (&gt; 25 ms or 50 ms: each judgement&#x27;s edge is in the table)</h2>" in page
    assert "<th>edge</th>" in page and "<td>&gt; 25 ms</td>" in page and "<td>&gt; 50 ms</td>" in page
    assert "<th>CS</th>" in page and "<th>interval</th>" not in page
    assert "<td>e=128 (mean over 2 edges)</td>" in page
    assert "<title>the margin: 1.2</title>" in page and ">margin 1.2</text>" in page
    assert "stratified by step" in page and "pooled over the whole run" in page
