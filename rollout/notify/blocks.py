"""Block Kit messages from ``Facts``. Pure: dicts in, dicts out, within Slack's size limits.

An experiment's thread starts with a summary message (kept current with ``chat.update``); every
event is a reply with its headline, the weights, each metric's numbers and the reason.
"""

from __future__ import annotations

from typing import Any

from rollout.events import MetricNumbers
from rollout.notify.facts import Facts, metric_line

Block = dict[str, Any]

MAX_TEXT = 2900  # a section's text may hold 3000 characters
MAX_HEADER = 150
MAX_METRICS = 20  # blocks per message are capped at 50
OUTCOME_EMOJI = {
    "advance": ":white_check_mark:",
    "rollback": ":x:",
    "hold": ":hourglass_flowing_sand:",
    "inconclusive": ":grey_question:",
}


def escape(text: str) -> str:
    """Slack's mrkdwn escapes: &, < and > (everything else is shown as written)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def _fields(f: Facts) -> Block:
    step = f"{f.step}" if f.step > 0 else "not started"
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": f"*Experiment*\n`{escape(f.experiment)}`"},
            {
                "type": "mrkdwn",
                "text": clip(
                    f"*Target*\n`{escape(f.service)}` {escape(f.stable_version)} → {escape(f.canary_version)}", 1900
                ),
            },
            {"type": "mrkdwn", "text": f"*Weights*\nstable {f.stable_weight}% / canary {f.canary_weight}%"},
            {"type": "mrkdwn", "text": f"*Step*\n{step} ({escape(f.phase)})"},
        ],
    }


def commit_text(f: Facts) -> str | None:
    if f.commit is None:
        return None
    where = f" in {escape(f.commit.path)}" if f.commit.path else ""
    return f"commit `{f.commit.short_sha}` by {escape(f.commit.author)}: {escape(f.commit.subject)}{where}"


def links_text(f: Facts) -> str | None:
    """The experiment's links as mrkdwn: ``<url|name>``, separated by dots; whole links only, as many as fit."""
    if not f.links:
        return None
    shown: list[str] = []
    for link in f.links:
        text = f"<{escape(link.url)}|{escape(link.name)}>"
        if len(" · ".join([*shown, text])) > MAX_TEXT - 60:  # room for the note below
            break
        shown.append(text)
    left = len(f.links) - len(shown)
    more = f"{left} more link{'s' if left > 1 else ''} too long to show here (see spec.notify.links)"
    return " · ".join([*shown, more] if left else shown)


def metric_block(m: MetricNumbers, engine: str = "sequential") -> Block:
    critical = " (critical)" if m.critical else ""
    emoji = OUTCOME_EMOJI.get(m.outcome, ":grey_question:")
    text = f"*{escape(m.metric)}*{critical}: {emoji} {escape(m.outcome)}\n{metric_line(m, engine)}"
    if m.reason:
        text += f"\n_{escape(m.reason)}_"
    return _section(text)


def _metrics(f: Facts) -> list[Block]:
    blocks = [metric_block(m, f.engine) for m in f.metrics[:MAX_METRICS]]
    if len(f.metrics) > MAX_METRICS:
        blocks.append(_context(f"and {len(f.metrics) - MAX_METRICS} more metrics (see the status history)"))
    return blocks


def _reason(f: Facts) -> Block:
    engine = f" ({escape(f.engine)} engine)" if f.engine else ""
    return _section(f"*Why*{engine}: {escape(f.reason)}")


def headline(f: Facts) -> str:
    """One line for notifications' ``text`` (shown in push notifications and by screen readers)."""
    return f"{f.emoji} {f.headline}: {f.experiment} ({f.service} {f.stable_version} → {f.canary_version})"


def _details(f: Facts) -> list[Block]:
    """What follows the fields in every message: the commit, the links, why, each metric's numbers."""
    blocks = [_context(text) for text in (commit_text(f), links_text(f)) if text is not None]
    return [*blocks, _reason(f), *_metrics(f)]


def summary_blocks(f: Facts) -> list[Block]:
    """The thread's first message: the experiment's current state."""
    header = {"type": "header", "text": {"type": "plain_text", "text": clip(headline(f), MAX_HEADER), "emoji": True}}
    return [header, _fields(f), *_details(f)]


def event_blocks(f: Facts) -> list[Block]:
    """One event, as a reply in the experiment's thread (or a message of its own in webhook mode)."""
    return [_section(f"*{f.emoji} {escape(f.headline)}*: `{escape(f.experiment)}`"), _fields(f), *_details(f)]


def plain_text(f: Facts) -> str:
    """The same facts without blocks (the ``text`` fallback, also used when blocks cannot show)."""
    lines = [headline(f), f"weights: stable {f.stable_weight}% / canary {f.canary_weight}%, step {f.step}"]
    if f.commit is not None:
        lines.append(f"commit {f.commit.short_sha} by {f.commit.author}: {f.commit.subject}")
    if f.links:
        lines.append("links: " + ", ".join(f"{link.name} {link.url}" for link in f.links))
    lines.append(f"why: {f.reason}")
    lines.extend(f"{m.metric}: {m.outcome}; {metric_line(m, f.engine)}" for m in f.metrics[:MAX_METRICS])
    return clip("\n".join(lines))


def notice_blocks(emoji: str, title: str, lines: list[str]) -> list[Block]:
    """A message not tied to an experiment's run (GitOps: an invalid file, a force-push)."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(f"{emoji} {title}", MAX_HEADER), "emoji": True}}
    ]
    if lines:
        blocks.append(_section("```" + clip(escape("\n".join(lines)), MAX_TEXT - 6) + "```"))
    return blocks
