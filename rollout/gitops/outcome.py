"""How a run the trigger started ended, in one line for a git note; and what a revert commit says. Pure.

An outcome is read from the run's final Status (``status.json`` of a local run, ``.status`` of the
Experiment in the cluster): its phase named as the CLI and the conditions name it (promoted,
completed, rolled back, aborted, superseded, inconclusive), where it ended (the step, and the most
traffic the canary had at the end: the weight it was judged at, or 100% once promoted) and the
decision's reason sentence with its numbers, as the status records it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rollout.kube.conditions import SUPERSEDED_MARK
from rollout.status import Phase, Status

WRITE_BACKS = ("notes", "revert-branch")
NOTES_REF = "refs/notes/meshroll"
REVERT_PREFIX = "meshroll/revert/"
TRAILER = "Meshroll-Revert-Of"
_TRAILER = re.compile(rf"^{TRAILER}:[ \t]*([0-9a-f]{{40,64}})[ \t]*$", re.MULTILINE | re.IGNORECASE)
_DECIDING = frozenset({Phase.ROLLING_BACK, Phase.PROMOTING})
REASON_LIMIT = 600  # of a reason in a revert commit's message (the note keeps it whole)
LEFT_LIMIT = 20  # other paths of the reverted commit named in a revert commit's message


def parse_write_back(text: str, option: str = "--write-back") -> frozenset[str]:
    """``notes``, ``revert-branch`` or ``notes,revert-branch``; ValueError with the line to print."""
    chosen = [part.strip() for part in text.split(",")]
    unknown = [part for part in chosen if part not in WRITE_BACKS]
    if unknown:
        what = f"{unknown[0]!r} is not one of notes, revert-branch" if unknown[0] else f"{text!r} has an empty item"
        raise ValueError(f"{option} {what}; give notes or revert-branch, or both as notes,revert-branch")
    return frozenset(chosen)


@dataclass(frozen=True)
class Outcome:
    key: str  # namespace/name
    commit: str  # the full sha of the commit that started the run
    outcome: str  # promoted | completed | rolled back | aborted | superseded | inconclusive | error
    reason: str
    step: int | None = None  # 1-based; None: not known
    weight: int | None = None  # the canary's weight where it ended
    path: str = ""  # the experiment file

    @property
    def where(self) -> str:
        """``at step 1 (canary 50%)``, or as much of it as is known."""
        text = f"at step {self.step}" if self.step is not None else ""
        if self.weight is not None:
            text = f"{text} (canary {self.weight}%)" if text else f"at canary {self.weight}%"
        return text

    @property
    def change(self) -> str:
        """What its revert undoes: ``the change 01234567 made to e/c.yaml`` (the whole commit: ``01234567``)."""
        return f"the change {self.commit[:8]} made to {self.path}" if self.path else self.commit[:8]

    @property
    def line(self) -> str:
        """The note's line: ``demo/checkout: rolled back at step 1 (canary 50%): <reason>``."""
        head = " ".join(part for part in (f"{self.key}: {self.outcome}", self.where) if part)
        reason = " ".join(self.reason.split())
        return f"{head}: {reason}" if reason else head

    def raw(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Outcome:
        """TypeError or ValueError when ``raw`` is not what ``raw`` wrote."""
        outcome = cls(**raw)
        texts = (outcome.key, outcome.commit, outcome.outcome, outcome.reason, outcome.path)
        numbers = (outcome.step, outcome.weight)
        if not all(isinstance(t, str) for t in texts) or not all(n is None or isinstance(n, int) for n in numbers):
            raise ValueError("an outcome's fields have the wrong types")
        return outcome


def outcome_name(status: Status) -> str:
    if status.phase is Phase.SUCCEEDED:
        return "promoted" if status.traffic.canary_weight == 100 else "completed"
    if status.phase is Phase.ABORTED:
        return "superseded" if SUPERSEDED_MARK in status.reason else "aborted"
    return {Phase.ROLLED_BACK: "rolled back", Phase.INCONCLUSIVE: "inconclusive"}.get(status.phase, "error")


def where_it_ended(status: Status) -> tuple[int | None, int | None]:
    """(step, weight): the step of the decision that ended the run, and the most traffic the canary had at
    the end (the weight it was judged at before going back to stable, or where it stayed)."""
    history = status.history
    at = len(history)
    while at > 0 and (history[at - 1].to_phase in _DECIDING or history[at - 1].to_phase.terminal):
        at -= 1  # the trailing entries that end the run: the decision, and the mesh write that followed
    final = status.traffic.canary_weight
    if not history:
        return (status.step + 1 if status.step >= 0 else None), final
    decision = history[min(at, len(history) - 1)]
    before = history[at - 1].traffic.canary_weight if at > 0 else final
    step = decision.step + 1 if decision.step >= 0 else None
    return step, max(before, final)


def from_status(key: str, commit: str, status: Status, path: str = "") -> Outcome:
    """The outcome of a run whose ``status`` has ended (its phase is terminal)."""
    step, weight = where_it_ended(status)
    reason = status.reason or (status.history[-1].reason if status.history else "")
    return Outcome(key, commit, outcome_name(status), reason, step, weight, path)


def superseded(key: str, commit: str, by: str, status: Status | None, path: str = "") -> Outcome:
    """A run replaced by a newer commit's: its own outcome when it had already ended, else ``superseded``
    where it was (from ``status``, read just before or after it was stopped)."""
    if status is not None and status.phase.terminal and outcome_name(status) not in ("aborted", "superseded"):
        return from_status(key, commit, status, path)
    reason = f"superseded by commit {by[:8]} before it ended"
    if status is None or (status.source is not None and status.source.commit not in ("", commit)):
        return Outcome(key, commit, "superseded", reason, path=path)
    step = status.step + 1 if status.step >= 0 else None
    if status.phase.terminal:  # stopped for the newer commit: the weight it was at before going back to stable
        step, weight = where_it_ended(status)
    else:
        weight = status.traffic.canary_weight
    return Outcome(key, commit, "superseded", reason, step, weight, path)


def reverted_of(message: str) -> str | None:
    """The commit a ``Meshroll-Revert-Of: <sha>`` trailer names, or None."""
    found = _TRAILER.findall(message)
    return found[-1].lower() if found else None


def revert_branch(outcome: Outcome) -> str:
    """``meshroll/revert/<namespace>.<name>-<shortsha>``."""
    namespace, _, name = outcome.key.partition("/")
    return f"{REVERT_PREFIX}{namespace}.{name}-{outcome.commit[:8]}"


def revert_message(outcome: Outcome, subject: str, left: Sequence[str] = ()) -> str:
    """The revert commit's message: it undoes what ``outcome.commit`` did to ``outcome.path`` (the whole commit
    when the outcome names no file), lists ``left``, the other paths that commit changed, kept as they are,
    and ends with the ``Meshroll-Revert-Of`` trailer the sync reads."""
    reason = " ".join(outcome.reason.split())
    if len(reason) > REASON_LIMIT:
        reason = reason[: REASON_LIMIT - 3] + "..."
    where = f", {outcome.where}" if outcome.where else ""
    if outcome.path:
        head = f'Revert {outcome.path} to before "{subject}"'
        what = f"This reverts the change commit {outcome.commit} made to {outcome.path}."
        if left:
            shown = [f"- {path}" for path in left[:LEFT_LIMIT]]
            more = [f"- and {len(left) - LEFT_LIMIT} more"] if len(left) > LEFT_LIMIT else []
            what += "\nIts changes to these other paths are left as they are:\n" + "\n".join([*shown, *more])
    else:
        head = f'Revert "{subject}"'
        what = f"This reverts commit {outcome.commit}."
    return (
        f"{head}\n\n"
        f"meshroll rolled back {outcome.key} (started from {outcome.commit[:8]}{where}):\n"
        f"{reason}\n\n"
        f"{what}\n\n"
        f"{TRAILER}: {outcome.commit}\n"
    )
