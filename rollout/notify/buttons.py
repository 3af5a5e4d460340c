"""Slack buttons that steer a run in progress (Promote, Pause or Resume, Abort), and Retry on a run that
ended without promotion (a new run of the same spec). Pure.

Each button's ``value`` names the Experiment and the run it was shown for, so a click on a message
of an older run is recognised and does nothing. The controller's ``POST /slack/actions`` endpoint
(``rollout/kube/slack_actions.py``) receives the clicks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from rollout.notify.blocks import Block, clip, escape
from rollout.notify.facts import Facts

ACTION_PREFIX = "meshroll-"  # action_id = meshroll-<command>
BLOCK_ID = "meshroll-commands"
COMMANDS = ("promote", "pause", "resume", "abort", "retry")
MAX_VALUE = 2000  # Slack's limit on a button's value
CONFIRM_TEXT = 300  # a confirm dialog's text may hold 300 characters
STEERABLE_PHASES = frozenset({"Progressing", "Paused"})
RETRYABLE_PHASES = frozenset({"RolledBack", "Aborted", "Inconclusive"})  # ended without promotion


class ActionValueError(ValueError):
    """A button value that is not one of meshroll's (or was tampered with)."""


@dataclass(frozen=True)
class ActionValue:
    """What a button asks for: ``command`` on ``experiment`` (namespace/name), for the run ``run``."""

    experiment: str
    run: str
    command: str

    def encode(self) -> str:
        text = json.dumps({"v": 1, "e": self.experiment, "r": self.run, "c": self.command}, separators=(",", ":"))
        if len(text) > MAX_VALUE:
            raise ActionValueError(f"a button value of {len(text)} characters is over Slack's {MAX_VALUE}")
        return text

    @property
    def namespace(self) -> str:
        return self.experiment.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.experiment.split("/", 1)[1]

    @classmethod
    def decode(cls, text: str) -> ActionValue:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            raise ActionValueError("the button's value is not meshroll's JSON") from None
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ActionValueError("the button's value is not a meshroll command (version 1)")
        experiment, run, command = data.get("e"), data.get("r"), data.get("c")
        if not all(isinstance(x, str) and x for x in (experiment, run, command)):
            raise ActionValueError("the button's value lacks the experiment, the run or the command")
        assert isinstance(experiment, str) and isinstance(run, str) and isinstance(command, str)
        namespace, slash, name = experiment.partition("/")
        if not slash or not namespace or not name or "/" in name:
            raise ActionValueError(f"the button names {experiment!r}, not namespace/name")
        if command not in COMMANDS:
            raise ActionValueError(f"the button asks for {command!r}, not one of {', '.join(COMMANDS)}")
        return cls(experiment, run, command)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _button(label: str, value: ActionValue, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(label),
        "action_id": ACTION_PREFIX + value.command,
        "value": value.encode(),
    }
    if style is not None:
        button["style"] = style
    return button


def _confirm(title: str, text: str, confirm: str, deny: str, style: str | None = None) -> dict[str, Any]:
    """Slack's confirmation dialog before a button acts."""
    dialog: dict[str, Any] = {
        "title": _plain(title),
        "text": {"type": "mrkdwn", "text": clip(text, CONFIRM_TEXT)},
        "confirm": _plain(confirm),
        "deny": _plain(deny),
    }
    if style is not None:
        dialog["style"] = style
    return dialog


def _abort_confirm(f: Facts) -> dict[str, Any]:
    text = (
        f"All traffic of `{escape(f.service)}` goes back to {escape(f.stable_version)} and the canary's "
        "faults are removed. The run cannot be resumed."
    )
    return _confirm("Abort this run?", text, "Abort", "Keep running", "danger")


def _retry_confirm(f: Facts) -> dict[str, Any]:
    text = (
        f"A new run of `{escape(f.service)}` {escape(f.canary_version)} starts from its first step, with the same "
        "spec. Retry when the cause was outside the release (a flaky dependency, too little traffic)."
    )
    return _confirm("Run this release again?", text, "Retry", "Cancel")


def action_block(f: Facts) -> Block | None:
    """The buttons for the run ``f`` describes, or None when it has none (promoted, promoting, no run id)."""
    if not f.run:
        return None

    def value(command: str) -> ActionValue:
        return ActionValue(f.experiment, f.run, command)

    if f.phase in RETRYABLE_PHASES:
        retry = _button("Retry", value("retry"))
        retry["confirm"] = _retry_confirm(f)
        return {"type": "actions", "block_id": BLOCK_ID, "elements": [retry]}
    if f.terminal or f.phase not in STEERABLE_PHASES:
        return None
    elements = [_button("Promote", value("promote"), "primary")]
    if f.phase == "Paused":
        elements.append(_button("Resume", value("resume")))
    else:
        elements.append(_button("Pause", value("pause")))
    abort = _button("Abort", value("abort"), "danger")
    abort["confirm"] = _abort_confirm(f)
    elements.append(abort)
    return {"type": "actions", "block_id": BLOCK_ID, "elements": elements}


def with_actions(blocks: list[Block], f: Facts) -> list[Block]:
    """``blocks`` followed by the run's buttons, when it has any (Slack allows 50 blocks per message)."""
    block = action_block(f)
    if block is None:
        return blocks
    return [*blocks[:49], block]
