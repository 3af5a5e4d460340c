"""Which judgements keep their per-metric numbers in a run's history. Pure.

A judgement records about 1 KB per metric and a run judges every interval, so a whole history grows
by megabytes a day: too much to keep in memory for weeks, to serialise on every status write, or
to store in one Kubernetes object. The numbers of a judgement are read back only for the newest
ones (the decision at hand, the notifications) and for each step's last (the report draws
one point per step); they also went to the Events, the log and Slack when it was made. So the
newest ``KEEP_JUDGEMENTS`` judgements, each step's last and every judgement that moved the run
(a rollback, an advance to the next step, a promotion, an inconclusive end) keep them; only holds
that changed nothing lose them once older. Every entry keeps its time, event, outcome, reason,
step and traffic, which is what replaying the machine and re-collecting evidence after a restart
need.
"""

from __future__ import annotations

from rollout.events import Judged
from rollout.status import HistoryEntry

KEEP_JUDGEMENTS = 20


def appended(history: tuple[HistoryEntry, ...], entry: HistoryEntry) -> tuple[HistoryEntry, ...]:
    """``history`` with ``entry`` added, and the numbers of the judgement that just left the newest
    ``KEEP_JUDGEMENTS`` dropped unless it is its step's last."""
    new = (*history, entry)
    if not isinstance(entry.event, Judged):
        return new
    seen = 0
    later_step: int | None = None  # the step of the judgement after the one looked at
    for i in range(len(new) - 1, -1, -1):
        event = new[i].event
        if not isinstance(event, Judged):
            continue
        seen += 1
        if seen == KEEP_JUDGEMENTS + 1:
            moved = new[i].from_phase != new[i].to_phase or (i > 0 and new[i - 1].step != new[i].step)
            if event.metrics and later_step == new[i].step and event.outcome == "hold" and not moved:
                thinned = new[i].model_copy(update={"event": event.model_copy(update={"metrics": ()})})
                return (*new[:i], thinned, *new[i + 1 :])
            return new
        later_step = new[i].step
    return new
