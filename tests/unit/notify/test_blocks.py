"""What a notification says: the experiment, target, commit, weights, each metric's numbers and the reason."""

from __future__ import annotations

import json

import pytest

from rollout.events import Applied, MetricNumbers
from rollout.machine import Notify
from rollout.notify.blocks import MAX_HEADER, event_blocks, notice_blocks, plain_text, summary_blocks
from rollout.notify.facts import as_json, facts, number
from rollout.status import HistoryEntry, Phase, Traffic
from tests.unit.notify import events


def text_of(blocks: list[dict[str, object]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_an_event_reply_carries_target_commit_weights_metric_numbers_and_reason() -> None:
    f = facts(events.experiment(), events.status(weight=25, step=1), events.advanced())
    shown = text_of(event_blocks(f))

    assert "demo/demo-healthy" in shown
    assert "`checkout` v1 → v2" in shown
    assert (
        "commit `3f9a1c2e` by Ann Example &lt;ann@example.com&gt;: Canary checkout v2 in experiments/checkout.yaml"
        in shown
    )
    assert "Details." not in shown, "only the message's first line"
    assert "stable 75% / canary 25%" in shown and "*Step*\\n2 (Progressing)" in shown
    assert "*error-rate* (critical): :white_check_mark: advance" in shown
    assert "estimate 1.021, CS [0.8731, 1.194], e-value 152.7, threshold 1.5" in shown
    assert "n stable 48,210 / canary 5,120" in shown
    assert "stable 0.0021 vs canary 0.00215" in shown
    assert "*Why* (sequential engine): error-rate: no worse" in shown


def test_a_p_value_engine_shows_the_p_value() -> None:
    f = facts(events.experiment(), events.status(phase=Phase.ROLLED_BACK, weight=0), events.rolled_back())
    shown = text_of(event_blocks(f))
    assert "*latency*: :x: rollback" in shown
    assert "p-value 0.00031" in shown
    assert "_slower than 50ms: 12.1% vs 7.4%_" in shown


@pytest.mark.parametrize(
    ("note", "headline"),
    [
        (events.succeeded(), ":white_check_mark: Promoted"),
        (events.rolled_back(), ":leftwards_arrow_with_hook: Rolled back"),
        (events.halted(), ":octagonal_sign: Halted"),
        (events.inconclusive(), ":grey_question: Inconclusive"),
        (events.started(), ":rocket: Experiment started"),
    ],
)
def test_outcomes_get_a_clear_headline_with_an_emoji(note: Notify, headline: str) -> None:
    f = facts(events.experiment(), events.status(), note)
    summary = summary_blocks(f)
    assert summary[0]["type"] == "header"
    assert summary[0]["text"]["text"].startswith(headline)  # type: ignore[index]
    assert event_blocks(f)[0]["text"]["text"].startswith(f"*{headline}*")  # type: ignore[index]


def test_final_outcomes_are_terminal_and_progress_is_not() -> None:
    terminal = [events.succeeded(), events.rolled_back(), events.halted(), events.inconclusive()]
    assert all(facts(events.experiment(), events.status(), n).terminal for n in terminal)
    assert not any(facts(events.experiment(), events.status(), n).terminal for n in (events.started(), events.paused()))


def test_text_from_users_is_escaped_and_long_text_is_clipped_to_slacks_limits() -> None:
    note = Notify("rolled-back", "Rolled back " + "x" * 300, "<script> & " + "y" * 5000, events.rolled_back().event)
    f = facts(events.experiment(), events.status(), note)
    summary = summary_blocks(f)
    assert len(summary[0]["text"]["text"]) <= MAX_HEADER  # type: ignore[index]
    sections = [b["text"]["text"] for b in summary if b["type"] == "section" and "text" in b]  # type: ignore[index]
    assert all(len(s) <= 3000 for s in sections)
    assert "&lt;script&gt; &amp; " in text_of(summary) and "<script>" not in text_of(summary)


def test_many_metrics_stay_under_the_block_limit() -> None:
    many = tuple(MetricNumbers(metric=f"m{i}", outcome="hold", reason="") for i in range(60))
    note = Notify("advanced", "Held", "not yet known", events.advanced().event.model_copy(update={"metrics": many}))
    blocks = event_blocks(facts(events.experiment(), events.status(), note))
    assert len(blocks) <= 50
    assert "and 40 more metrics" in text_of(blocks)


def test_without_a_commit_nothing_about_one_is_said() -> None:
    plain = events.status().model_copy(update={"source": None})
    f = facts(events.experiment(), plain, events.started())
    assert f.commit is None
    assert "commit" not in text_of(summary_blocks(f))


def test_the_plain_text_fallback_has_the_same_numbers() -> None:
    text = plain_text(facts(events.experiment(), events.status(), events.rolled_back()))
    assert "latency: rollback; estimate 1.64, CS [1.31, 2.05], p-value 0.00031" in text
    assert "commit 3f9a1c2e by Ann Example <ann@example.com>: Canary checkout v2" in text


def test_the_json_document_carries_every_number_and_infinity_is_spelled_out() -> None:
    infinite = events.ERROR_RATE.model_copy(update={"e_value": float("inf"), "interval": (0.5, float("inf"))})
    note = Notify("advanced", "Advanced", "why", events.advanced().event.model_copy(update={"metrics": (infinite,)}))
    document = as_json(facts(events.experiment(), events.status(weight=25), note))

    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert document["experiment"] == "demo/demo-healthy" and document["kind"] == "advanced"
    assert document["weights"] == {"stable": 75, "canary": 25}
    assert document["target"] == {"service": "checkout", "stable": "v1", "canary": "v2"}
    assert document["commit"]["sha"] == events.SHA
    metric = document["metrics"][0]
    assert metric["eValue"] == "+Inf" and metric["interval"] == [0.5, "+Inf"]
    assert metric["stableN"] == 48210 and metric["canaryN"] == 5120 and metric["critical"] is True


def test_numbers_read_well() -> None:
    assert [number(v) for v in (None, float("nan"), float("inf"), 48210.0, 0.000312345, 1.0)] == [
        "n/a", "n/a", "∞", "48,210", "0.0003123", "1",
    ]  # fmt: skip


def test_a_gitops_notice_shows_its_lines_as_code() -> None:
    blocks = notice_blocks(":x:", "Invalid experiment file experiments/a.yaml", ["experiments/a.yaml:5:3 spec: bad"])
    assert blocks[0]["text"]["text"] == ":x: Invalid experiment file experiments/a.yaml"  # type: ignore[index]
    assert "experiments/a.yaml:5:3 spec: bad" in text_of(blocks)


def test_a_final_outcome_without_a_judgement_of_its_own_shows_the_one_that_decided_it() -> None:
    decided = events.rolled_back().event
    entry = HistoryEntry(time=1.0, event=decided, from_phase=Phase.PROGRESSING, to_phase=Phase.ROLLING_BACK, step=1,
                         traffic=Traffic(), reason="latency regressed")  # fmt: skip
    status = events.status(phase=Phase.ROLLED_BACK, weight=0).model_copy(update={"history": (entry,)})
    final = Notify("rolled-back", "Rolled back", "latency regressed", Applied())
    f = facts(events.experiment(), status, final)
    assert [m.metric for m in f.metrics] == ["error-rate", "latency"]
    assert "p-value 0.00031" in text_of(summary_blocks(f))
    progress = facts(events.experiment(), status, events.paused())
    assert progress.metrics == (), "only final outcomes borrow the deciding numbers"
