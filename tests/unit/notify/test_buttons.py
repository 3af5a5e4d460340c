"""The buttons on a run's Slack message: which ones, what their value carries, and only when asked for."""

from __future__ import annotations

import json

import pytest

from rollout.notify.blocks import summary_blocks
from rollout.notify.buttons import ActionValue, ActionValueError, action_block, with_actions
from rollout.notify.facts import facts
from rollout.status import Phase
from tests.unit.notify import events


def elements(phase: Phase = Phase.PROGRESSING) -> list[dict[str, object]]:
    block = action_block(facts(events.experiment(), events.status(phase=phase), events.advanced()))
    assert block is not None and block["type"] == "actions"
    return list(block["elements"])


def test_a_progressing_run_offers_promote_pause_and_a_confirmed_abort() -> None:
    buttons = elements()
    assert [b["action_id"] for b in buttons] == ["meshroll-promote", "meshroll-pause", "meshroll-abort"]
    assert [b.get("style") for b in buttons] == ["primary", None, "danger"]
    abort = buttons[2]
    confirm = abort["confirm"]
    assert isinstance(confirm, dict)
    assert confirm["title"]["text"] == "Abort this run?" and confirm["confirm"]["text"] == "Abort"
    assert "goes back to v1" in confirm["text"]["text"] and len(confirm["text"]["text"]) <= 300
    assert "confirm" not in buttons[0] and "confirm" not in buttons[1]


def test_a_paused_run_offers_resume_instead_of_pause() -> None:
    assert [b["action_id"] for b in elements(Phase.PAUSED)] == ["meshroll-promote", "meshroll-resume", "meshroll-abort"]


def test_each_value_names_the_experiment_the_run_and_the_command() -> None:
    for button in elements():
        value = ActionValue.decode(str(button["value"]))
        assert (value.experiment, value.run) == ("demo/demo-healthy", "1000.000")
        assert button["action_id"] == f"meshroll-{value.command}"
        assert (value.namespace, value.name) == ("demo", "demo-healthy")
        assert len(str(button["value"])) <= 2000


@pytest.mark.parametrize("phase", [Phase.ROLLED_BACK, Phase.ABORTED, Phase.INCONCLUSIVE])
def test_a_run_that_ended_without_promotion_offers_a_confirmed_retry_alone(phase: Phase) -> None:
    f = facts(events.experiment(), events.status(phase=phase), events.rolled_back())
    block = action_block(f)
    assert block is not None
    (retry,) = block["elements"]
    assert retry["action_id"] == "meshroll-retry" and ActionValue.decode(retry["value"]).run == "1000.000"
    assert retry["confirm"]["title"]["text"] == "Run this release again?"
    assert "starts from its first step" in retry["confirm"]["text"]["text"]


@pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.PROMOTING, Phase.PENDING])
def test_a_run_that_cannot_be_steered_has_no_buttons(phase: Phase) -> None:
    f = facts(events.experiment(), events.status(phase=phase), events.advanced())
    assert action_block(f) is None
    assert with_actions(summary_blocks(f), f) == summary_blocks(f)


def test_a_terminal_note_has_no_buttons_whatever_the_phase() -> None:
    f = facts(events.experiment(), events.status(), events.rolled_back())
    assert action_block(f) is None


def test_the_buttons_come_last_in_the_summary() -> None:
    f = facts(events.experiment(), events.status(), events.advanced())
    blocks = with_actions(summary_blocks(f), f)
    assert blocks[:-1] == summary_blocks(f) and blocks[-1]["type"] == "actions"
    assert len(blocks) <= 50


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        json.dumps({"v": 2, "e": "a/b", "r": "1", "c": "abort"}),
        json.dumps({"v": 1, "e": "a/b", "r": "1", "c": "delete"}),
        json.dumps({"v": 1, "e": "nonamespace", "r": "1", "c": "abort"}),
        json.dumps({"v": 1, "e": "a/b/c", "r": "1", "c": "abort"}),
        json.dumps({"v": 1, "e": "a/b", "r": "", "c": "abort"}),
        json.dumps(["v", 1]),
    ],
)
def test_a_value_that_is_not_meshroll_s_is_refused(text: str) -> None:
    with pytest.raises(ActionValueError):
        ActionValue.decode(text)
