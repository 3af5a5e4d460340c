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

from itertools import islice

from rollout.events import Judged
from rollout.status import HistoryEntry

KEEP_JUDGEMENTS = 20


def appended(history: tuple[HistoryEntry, ...], entry: HistoryEntry) -> tuple[HistoryEntry, ...]:
    """``history`` with ``entry`` added, and the numbers dropped from the judgement that just left the
    newest ``KEEP_JUDGEMENTS`` if it does not keep them (``_keeps``)."""
    new = (*history, entry)
    if not isinstance(entry.event, Judged):
        return new
    newest = (i for i in range(len(new) - 1, -1, -1) if isinstance(new[i].event, Judged))
    judged = list(islice(newest, KEEP_JUDGEMENTS + 1))  # newest first
    if len(judged) <= KEEP_JUDGEMENTS:
        return new
    i = judged[KEEP_JUDGEMENTS]
    return _stripped(new, [i]) if not _keeps(new, i, judged[KEEP_JUDGEMENTS - 1]) else new


def thinned(history: tuple[HistoryEntry, ...]) -> tuple[HistoryEntry, ...]:
    """The whole of ``history`` thinned by the rule ``appended`` applies one judgement at a time (for a
    history recorded without it: by an older meshroll)."""
    judged = [i for i, e in enumerate(history) if isinstance(e.event, Judged)]
    older = judged[:-KEEP_JUDGEMENTS]
    return _stripped(history, [i for i, after in zip(older, judged[1:], strict=False) if not _keeps(history, i, after)])


def _keeps(history: tuple[HistoryEntry, ...], i: int, after: int) -> bool:
    """Whether judgement ``i`` (``after``: the next judgement) keeps its numbers though no longer among
    the newest: it moved the run (not a plain hold, another phase, the next step), or it is its
    step's last."""
    entry = history[i]
    plain_hold = isinstance(entry.event, Judged) and entry.event.outcome == "hold"
    moved = not plain_hold or entry.from_phase != entry.to_phase or (i > 0 and history[i - 1].step != entry.step)
    return moved or history[after].step != entry.step


def _stripped(history: tuple[HistoryEntry, ...], indices: list[int]) -> tuple[HistoryEntry, ...]:
    """``history`` with the judgements at ``indices`` without their numbers (itself if none has any): the
    per-metric ones, the canary's requests and its observed share, which change at every judgement and so
    would keep the stored history from packing a run of holds into one entry (``kube.document.pack_history``):
    a week of a sticky canary's holds would outgrow what the API server stores."""
    bare = {"metrics": (), "canary_requests": None, "canary_share": None}
    changes = {
        i: history[i].model_copy(update={"event": event.model_copy(update=bare)})
        for i in indices
        if isinstance(event := history[i].event, Judged)
        and (event.metrics or event.canary_requests is not None or event.canary_share is not None)
    }
    return tuple(changes.get(i, e) for i, e in enumerate(history)) if changes else history
