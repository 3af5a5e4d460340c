"""Kubernetes-style conditions computed from a Status. Pure.

Four types, each with ``type``, ``status`` (True/False/Unknown), ``reason`` (CamelCase),
``message``, ``lastTransitionTime`` (kept while ``status`` does not change) and
``observedGeneration``, as the API conventions (metav1.Condition) describe:

- ``Progressing``: True while a run moves (Progressing, Promoting, RollingBack); False when it is
  paused or has ended (reason: the phase); Unknown before the first run.
- ``Promoted``: True when the run ended with all traffic on the canary.
- ``RolledBack``: True when the run ended with all traffic back on stable: rolled back (reason
  RolledBack), aborted (Aborted, or Superseded by a newer generation) or inconclusive.
- ``Ready``: True when the mesh holds what the status records and nothing stops the controller;
  False with the problem's reason (InvalidSpec, MeshError, Queued, Waiting, DependencyFailed,
  DependencyCycle, ...) or ApplyingTraffic.

``kubectl wait experiment/NAME --for=condition=Promoted`` works with these. ``display_state`` sums them
up in one word for ``kubectl get experiments`` (the STATUS column).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rollout.status import Phase, Status

Obj = dict[str, Any]
TYPES = ("Progressing", "Promoted", "RolledBack", "Ready")
MAX_MESSAGE = 2048
SUPERSEDED_MARK = "superseded by generation"
APPLYING = "ApplyingTraffic"  # Ready False while a new intent is being written: the run moves


@dataclass(frozen=True)
class Problem:
    """Why the controller cannot do its work for an experiment: reason (CamelCase) and a one-line message."""

    reason: str
    message: str


def conditions(
    status: Status | None,
    *,
    generation: int,
    now: float,
    previous: Iterable[Mapping[str, Any]] = (),
    problem: Problem | None = None,
) -> list[Obj]:
    """The four conditions for ``status`` (None: no run yet), keeping transition times from ``previous``."""
    before = {str(c.get("type")): c for c in previous}
    wanted = [
        ("Progressing", *_progressing(status, problem)),
        ("Promoted", *_promoted(status)),
        ("RolledBack", *_rolled_back(status)),
        ("Ready", *_ready(status, problem)),
    ]
    stamp = timestamp(now)
    result = []
    for kind, value, reason, message in wanted:
        old = before.get(kind)
        since = old.get("lastTransitionTime") if old is not None and old.get("status") == value else None
        result.append(
            {
                "type": kind,
                "status": value,
                "reason": reason,
                "message": message[:MAX_MESSAGE],
                "lastTransitionTime": since if isinstance(since, str) else stamp,
                "observedGeneration": generation,
            }
        )
    return result


def timestamp(seconds: float) -> str:
    """RFC 3339 in UTC, to the second, as metav1.Time is serialised."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def display_state(status: Status | None, conditions: Iterable[Mapping[str, Any]]) -> str:
    """One word that always says where an Experiment is: the ``Ready`` condition's reason while it is False
    for a reason the run does not move by (Queued, InvalidSpec, Waiting, MeshError, MetricsUnavailable...),
    else the run's phase (Pending before its first run)."""
    ready = next((c for c in conditions if c.get("type") == "Ready"), {})
    if ready.get("status") == "False" and ready.get("reason") and ready.get("reason") != APPLYING:
        return str(ready["reason"])
    return status.phase.value if status is not None else Phase.PENDING.value


def _progressing(status: Status | None, problem: Problem | None) -> tuple[str, str, str]:
    if status is None:
        if problem is not None:
            return "False", problem.reason, problem.message
        return "Unknown", "Pending", "waiting for the controller to start the run"
    phase = status.phase
    if phase in (Phase.PROGRESSING, Phase.PROMOTING, Phase.ROLLING_BACK):
        return "True", phase.value, _where(status)
    if phase is Phase.PENDING:
        return "Unknown", "Pending", "waiting for the controller to start the run"
    return "False", _ended_reason(status), status.reason or phase.value


def _promoted(status: Status | None) -> tuple[str, str, str]:
    if status is None or not status.phase.terminal:
        phase = status.phase.value if status is not None else "Pending"
        return "False", "InProgress" if phase != "Pending" else "Pending", f"the run is {phase}"
    if status.phase is Phase.SUCCEEDED and status.traffic.canary_weight == 100:
        return "True", "Promoted", status.reason or "promoted"
    if status.phase is Phase.SUCCEEDED:
        return "False", "Completed", f"the run completed without promoting (mirror or chaos-only): {status.reason}"
    return "False", _ended_reason(status), status.reason


def _rolled_back(status: Status | None) -> tuple[str, str, str]:
    if status is None or not status.phase.terminal:
        phase = status.phase.value if status is not None else "Pending"
        return "False", "InProgress" if phase != "Pending" else "Pending", f"the run is {phase}"
    if status.phase is Phase.SUCCEEDED:
        reason = "Promoted" if status.traffic.canary_weight == 100 else "Completed"
        return "False", reason, status.reason
    return "True", _ended_reason(status), status.reason


def _ready(status: Status | None, problem: Problem | None) -> tuple[str, str, str]:
    if problem is not None:
        return "False", problem.reason, problem.message
    if status is not None and not status.traffic_applied:
        return "False", APPLYING, f"the mesh is being set to: {traffic_text(status)}"
    if status is None:
        return "True", "Accepted", "the spec is valid; the run starts"
    return "True", "TrafficApplied", f"the mesh holds what the status records: {traffic_text(status)}"


def _ended_reason(status: Status) -> str:
    if status.phase is Phase.ABORTED and SUPERSEDED_MARK in status.reason:
        return "Superseded"
    return status.phase.value


def _where(status: Status) -> str:
    text = f"step {status.step + 1}, {traffic_text(status)}"
    return f"{text}: {status.reason}" if status.reason else text


def traffic_text(status: Status) -> str:
    """The traffic ``status`` records, in words (as the conditions say it)."""
    t = status.traffic
    parts = [f"stable {t.stable_weight}% / canary {t.canary_weight}%"]
    if t.ab_active:
        parts.append("cohort to canary")
    if t.mirror_percent:
        parts.append(f"mirroring {t.mirror_percent:g}%")
    if t.faults:
        parts.append(f"{len(t.faults)} fault(s)")
    return ", ".join(parts)
