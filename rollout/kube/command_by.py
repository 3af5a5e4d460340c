"""Who gave an operator command: ``meshroll.io/command-by`` beside ``meshroll.io/command``. Pure.

A Slack click sets both in one patch (``slack_actions.py``): the command's value names the user
(``abort:slack-U123-<ts>``) and ``command-by`` names them with their Slack name. The author is
believed only while the two agree, so a value set later with ``kubectl annotate`` is not credited
to an earlier click.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

COMMAND_ANNOTATION = "meshroll.io/command"  # an operator command: pause, resume, promote, abort or retry
COMMAND_BY_ANNOTATION = "meshroll.io/command-by"
UNKNOWN_AUTHOR = "unknown"  # how the logs name the author of a command that records none
_SLACK_AUTHOR = re.compile(r"slack:([UW][A-Z0-9]+)(?: \(.*\))?")


def command_author(annotations: Mapping[str, Any], value: str) -> str | None:
    """The author recorded for the command ``value`` (``slack:U123 (alice)``), or None."""
    by = str(annotations.get(COMMAND_BY_ANNOTATION) or "")
    match = _SLACK_AUTHOR.fullmatch(by)
    if match is None:
        return None
    _command, _, suffix = value.partition(":")
    return by if suffix.startswith(f"slack-{match.group(1)}-") else None
