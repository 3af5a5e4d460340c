"""An experiment's status: where it is, what the mesh should hold, and every decision so far.

Persisted (``--status-out``, the CRD's status subresource), so it is a pydantic model in camelCase.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from rollout.events import Event


class Phase(StrEnum):
    PENDING = "Pending"
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    PROMOTING = "Promoting"
    SUCCEEDED = "Succeeded"
    ROLLING_BACK = "RollingBack"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    INCONCLUSIVE = "Inconclusive"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Phase.SUCCEEDED, Phase.ROLLED_BACK, Phase.ABORTED, Phase.INCONCLUSIVE})


class StatusModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Traffic(StatusModel):
    """What the mesh should hold for this experiment (the intent)."""

    canary_weight: int = 0
    ab_active: bool = False  # the cohort route is on: an A/B test's match, or a canary's cohort beside the weights
    mirror_percent: float = 0.0
    faults: tuple[str, ...] = ()  # ids of active faults

    @property
    def stable_weight(self) -> int:
        return 100 - self.canary_weight

    @property
    def split(self) -> tuple[int, bool, float]:
        """What decides which arm a request reaches (faults do not)."""
        return self.canary_weight, self.ab_active, self.mirror_percent

    @property
    def is_safe(self) -> bool:
        return self.canary_weight == 0 and not self.ab_active and self.mirror_percent == 0 and not self.faults


class HistoryEntry(StatusModel):
    """One event and what it did. The event and time are enough to replay the machine."""

    time: float
    event: Event
    from_phase: Phase
    to_phase: Phase
    step: int
    traffic: Traffic
    reason: str


class Source(StatusModel):
    """Where the experiment came from (a GitOps commit), copied from the Experiment's annotations."""

    commit: str = ""
    author: str = ""
    message: str = ""
    repo: str = ""
    path: str = ""


SOURCE_ANNOTATIONS = {
    "commit": "meshroll.io/commit-sha",
    "author": "meshroll.io/commit-author",
    "message": "meshroll.io/commit-message",
    "repo": "meshroll.io/source-repo",
    "path": "meshroll.io/source-path",
}


def source_from(annotations: dict[str, str]) -> Source | None:
    """The commit an Experiment was started from, or None when it names none."""
    found = {field: annotations[key] for field, key in SOURCE_ANNOTATIONS.items() if key in annotations}
    return Source(**found) if found else None


class Status(StatusModel):
    phase: Phase = Phase.PENDING
    step: int = -1  # index into the schedule; -1 before the first step
    traffic: Traffic = Traffic()
    traffic_applied: bool = True  # False between writing a new intent and the mesh confirming it
    started_at: float | None = None
    step_started_at: float | None = None
    updated_at: float | None = None
    holds: int = 0  # consecutive steps with no judgement (no data, metrics unavailable)
    verdict: str = ""  # the last decision's outcome
    reason: str = ""
    source: Source | None = None  # the commit that started this run (GitOps)
    history: tuple[HistoryEntry, ...] = Field(default_factory=tuple)

    @property
    def done(self) -> bool:
        return self.phase.terminal and self.traffic_applied

    @property
    def ever_applied(self) -> bool:
        """Whether the mesh ever took a traffic split of this run (an ``applied`` entry in its history)."""
        return any(entry.event.type == "applied" for entry in self.history)

    def without_history(self) -> dict[str, object]:
        return self.model_dump(exclude={"history"})
