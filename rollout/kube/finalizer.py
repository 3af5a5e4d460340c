"""The finalizer ``meshroll.io/revert``: deleting an Experiment mid-run always reverts the mesh. Pure.

- While a run may touch the mesh (it starts, is driven, superseded or adopted while under way),
  the Experiment carries the finalizer: the API server then keeps a deleted Experiment
  (``metadata.deletionTimestamp`` set, "Terminating") until meshroll has routed all its traffic
  back to stable, removed its faults and taken the finalizer off, even when no controller ran at
  the moment of the deletion (the next one does it).
- A finished run (terminal and applied: promoted, rolled back, aborted, inconclusive) drops the
  finalizer: the mesh holds its final routing, which deletion must not change (after a promotion
  the route sends everything to the promoted version; "all stable" would undo the promotion), so
  deleting a finished Experiment is immediate.
- A revert that cannot ever succeed (the routing object or its kind is gone, the run's spec no
  longer builds a provider) is reported and the finalizer removed; any other failure keeps the
  finalizer and is retried with a backoff, reported with the way to delete without reverting.

Only meshroll's own entry of ``metadata.finalizers`` is ever added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rollout.kube.revisions import Adopt, Drive, Reject, StartRun, Step, Supersede
from rollout.status import Status

FINALIZER = "meshroll.io/revert"


def finalizers(obj: Mapping[str, Any]) -> list[str]:
    return [str(name) for name in (obj.get("metadata") or {}).get("finalizers") or ()]


def held(obj: Mapping[str, Any]) -> bool:
    """Whether the object carries meshroll's finalizer."""
    return FINALIZER in finalizers(obj)


def deleting(obj: Mapping[str, Any]) -> bool:
    """Whether the object is being deleted (the API server keeps it while finalizers remain)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def wanted(step: Step) -> bool:
    """Whether the finalizer belongs on an Experiment whose reconcile decided ``step``: while a run may
    touch the mesh (it starts, goes on, or is superseded), not once the run is over or none exists."""
    if isinstance(step, StartRun | Supersede | Drive):
        return True
    if isinstance(step, Adopt | Reject):
        return isinstance(step.then, Drive)
    return False  # Idle


def with_ours(names: Sequence[str]) -> list[str]:
    """``names`` with meshroll's finalizer added at the end (unchanged when it is there)."""
    return list(names) if FINALIZER in names else [*names, FINALIZER]


def without_ours(names: Sequence[str]) -> list[str]:
    """``names`` without meshroll's finalizer; everyone else's stay, in order."""
    return [name for name in names if name != FINALIZER]


@dataclass(frozen=True)
class Revert:
    """Route all traffic back to stable and remove the run's faults, then remove the finalizer."""

    run: int
    status: Status

    @property
    def what(self) -> str:
        traffic = self.status.traffic
        held_now = f"canary {traffic.canary_weight}%"
        if traffic.ab_active:
            held_now += ", cohort"
        if traffic.mirror_percent:
            held_now += f", mirror {traffic.mirror_percent:g}%"
        if traffic.faults:
            held_now += f", faults {', '.join(traffic.faults)}"
        return f"run {self.run} ({self.status.phase.value}, {held_now})"


@dataclass(frozen=True)
class Release:
    """Nothing to revert: remove the finalizer and leave the mesh as it is (``reason`` says why)."""

    reason: str


def on_deletion(run: int, status: Status | None) -> Revert | Release:
    """What deleting an Experiment whose current run is ``run`` with ``status`` (as stored) means for the mesh."""
    if run == 0 or status is None:
        return Release("no run has touched the mesh")
    if status.done:
        return Release(f"run {run} is {status.phase.value}: the mesh keeps its final routing, nothing is reverted")
    return Revert(run, status)


def force_delete(namespace: str, name: str) -> str:
    """The command that deletes a Terminating Experiment without meshroll (nothing is reverted then)."""
    return f'kubectl patch experiment {name} -n {namespace} --type merge -p \'{{"metadata":{{"finalizers":null}}}}\''
