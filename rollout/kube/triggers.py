"""What of an Experiment's object a reconcile acts on, besides its status. Pure.

The controller reconciles a key at every watch event and re-list, but a key that failed waits out
its backoff (``workqueue.WorkQueue.retry``) unless one of these changed since the watch last saw
the object; its status alone changing (the failed attempt's own report, a run's writes, another
replica's) or nothing changing (a re-list) does not cut the backoff short. A reconcile reads,
besides ``spec`` (whose changes ``metadata.generation`` counts) and ``status``:

- ``metadata.uid``: another object under the same name (deleted and created again);
- ``metadata.deletionTimestamp``: the deletion, which reverts the mesh (``deletion.py``);
- ``metadata.finalizers``: whether meshroll's is there (``finalizer.py``). Meshroll's own counts
  only while the object is being deleted (removing it by hand then means "do not revert"):
  otherwise the controller adds and removes it itself, as a run starts and ends, and its own
  write must not end the backoff of the run that failed right after it;
- ``metadata.labels`` and ``metadata.annotations``: all of them go into the Experiment a run is
  built from (``objects.experiment_from``: the GitOps source, for one), and the annotations carry
  the operator's commands (``meshroll.io/command``) and the chaos kill switch
  (``meshroll.io/chaos-stopped``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout.kube.finalizer import FINALIZER, deleting, finalizers


@dataclass(frozen=True)
class Trigger:
    uid: str
    generation: int
    deletion: str
    finalizers: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]


def trigger(obj: Mapping[str, Any]) -> Trigger:
    """The part of ``obj`` whose change a reconcile acts on (see the module's docstring)."""
    metadata = obj.get("metadata") or {}
    names = finalizers(obj)
    if not deleting(obj):
        names = [name for name in names if name != FINALIZER]
    return Trigger(
        uid=str(metadata.get("uid") or ""),
        generation=int(metadata.get("generation") or 0),
        deletion=str(metadata.get("deletionTimestamp") or ""),
        finalizers=tuple(names),
        labels=_pairs(metadata.get("labels")),
        annotations=_pairs(metadata.get("annotations")),
    )


def _pairs(values: object) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in values.items())) if isinstance(values, Mapping) else ()
