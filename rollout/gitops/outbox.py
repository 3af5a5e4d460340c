"""What the write-back keeps between polls and restarts: the runs it watches and the outcomes not yet written. Pure.

Kept in the state file beside what the trigger acted on (``StateFile.load_section("writeback", ...)``), as
JSON; a state file written before write-back existed has none, which reads as an empty outbox.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollout.gitops.outcome import Outcome

SECTION = "writeback"


@dataclass(frozen=True)
class Watched:
    """A run the trigger started and has not yet seen end."""

    key: str
    commit: str  # the commit it was started from
    path: str
    generation: int | None = None  # cluster: the metadata.generation the apply made (None: not known)


@dataclass
class Pending:
    outcome: Outcome
    todo: list[str]  # what is still to be written: "notes", "revert-branch"


@dataclass
class Outbox:
    watched: dict[str, Watched] = field(default_factory=dict)  # key -> its run
    pending: list[Pending] = field(default_factory=list)

    def add(self, outcome: Outcome, kinds: frozenset[str]) -> None:
        """Queue what ``kinds`` write for ``outcome`` (a revert branch only for a rollback); nothing twice."""
        todo: list[str] = [k for k in ("notes", "revert-branch") if k in kinds]
        if outcome.outcome != "rolled back":
            todo = [k for k in todo if k != "revert-branch"]
        if todo and not any(p.outcome == outcome for p in self.pending):
            self.pending.append(Pending(outcome, todo))

    def done(self, outcome: Outcome, kind: str) -> None:
        for pending in self.pending:
            if pending.outcome == outcome and kind in pending.todo:
                pending.todo.remove(kind)
        self.pending = [p for p in self.pending if p.todo]

    def due(self, kind: str) -> list[Outcome]:
        return [p.outcome for p in self.pending if kind in p.todo]

    def raw(self) -> dict[str, Any]:
        return {
            "watched": [
                {"key": w.key, "commit": w.commit, "path": w.path, "generation": w.generation}
                for w in self.watched.values()
            ],
            "pending": [{"outcome": p.outcome.raw(), "todo": list(p.todo)} for p in self.pending],
        }

    @classmethod
    def from_raw(cls, raw: object) -> Outbox:
        """ValueError when ``raw`` is not what ``raw`` wrote (None: an empty outbox)."""
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ValueError("its write-back entries do not have the expected fields")
        try:
            watched = [Watched(**w) for w in raw.get("watched", [])]
            pending = [Pending(Outcome.from_raw(p["outcome"]), list(p["todo"])) for p in raw.get("pending", [])]
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ValueError("its write-back entries do not have the expected fields") from None
        texts = [t for w in watched for t in (w.key, w.commit, w.path)] + [t for p in pending for t in p.todo]
        if not all(isinstance(t, str) for t in texts) or any(
            w.generation is not None and not isinstance(w.generation, int) for w in watched
        ):
            raise ValueError("its write-back entries do not have the expected fields")
        return cls({w.key: w for w in watched}, pending)
