"""The StatusStore of one Experiment run, kept in the Experiment's status subresource.

Every save is a conditional PUT of ``.status`` (the ``resourceVersion`` last read). On 409 the
object is read again: when its stored status is still a prefix of what is being written (only
the spec or metadata moved, or an earlier write of ours landed), the write is redone on the new
version, so a decision is never lost; when someone else has recorded a decision this run does not
know (another replica, a hand edit), ``StatusConflict`` is raised and nothing is written: the
caller reloads the run from what is stored. A save is refused (``NotLeader``) when this replica
may not act, before anything is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rollout.crd import GROUP, KIND, VERSION
from rollout.kube.client import Conflict, KubeError, NotLeader
from rollout.kube.conditions import Problem, conditions
from rollout.kube.document import RunInfo, StoredStatus, compose, same_history, split
from rollout.kube.objects import Experiments, Key
from rollout.status import Status

Obj = dict[str, Any]
log = logging.getLogger("meshroll.kube.store")
__all__ = ["KubeStatusStore", "NotLeader", "StatusConflict"]


class StatusConflict(KubeError):
    """Someone else recorded a decision in this run's status: reload the run from the stored status."""


class KubeStatusStore:
    """``load``/``save`` meshroll's Status for run ``info.run`` of one Experiment."""

    def __init__(
        self,
        experiments: Experiments,
        key: Key,
        info: RunInfo,
        *,
        identity: str,
        may_write: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        max_attempts: int = 5,
        on_conflict: Callable[[], None] = lambda: None,
    ) -> None:
        self.experiments = experiments
        self.key = key
        self.info = info
        self.identity = identity
        self.may_write = may_write
        self.clock = clock
        self.max_attempts = max_attempts
        self.on_conflict = on_conflict
        self.problem: Problem | None = None
        self.conflicts = 0  # 409s met (and resolved or not), for metrics and tests
        self.writes = 0
        self._object: Obj | None = None  # the object as last read or written by this store
        self._last: Status | None = None

    @property
    def last(self) -> Status | None:
        return self._last

    def load(self) -> Status | None:
        """This run's stored Status, or None when the object holds no status of this run yet."""
        obj = self.experiments.get(self.key)
        self._object = obj
        stored = split(obj.get("status"))
        self._last = stored.status if stored.info.run == self.info.run else None
        return self._last

    def save(self, status: Status) -> None:
        self._write(status)

    def refresh(self, problem: Problem | None = None, **info: Any) -> None:
        """Rewrite the conditions and run info (``problem``, ``info`` fields) with the last saved Status."""
        self.problem = problem
        if info:
            self.info = replace(self.info, **info)
        self._write(self._last)

    # --- internals ---------------------------------------------------------------------------

    def _write(self, status: Status | None) -> None:
        for _ in range(self.max_attempts):
            if not self.may_write():
                raise NotLeader(f"not writing the status of {self.key}: this replica does not hold the Lease")
            fresh = self._object is None
            obj = self._object if self._object is not None else self.experiments.get(self.key)
            stored = split(obj.get("status"))
            if fresh:
                self._check_no_foreign_decision(stored, status)
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": KIND,
                "metadata": {
                    "name": self.key.name,
                    "namespace": self.key.namespace,
                    "resourceVersion": (obj.get("metadata") or {}).get("resourceVersion"),
                },
                "status": compose(status, self.info, self._conditions(status, stored), self.identity),
            }
            try:
                self._object = self.experiments.replace_status(self.key, body)
            except Conflict:
                self.conflicts += 1
                self.on_conflict()
                self._object = None  # read it again and redo the write on the new version
                continue
            except KubeError:
                self._object = None  # unknown whether it landed: the next write re-reads and checks
                raise
            self.writes += 1
            self._last = status
            return
        raise KubeError(
            f"the status of {self.key} changed {self.max_attempts} times in a row while meshroll wrote it; "
            "something else keeps writing it (another controller?) - meshroll retries",
            temporary=True,
        )

    def _check_no_foreign_decision(self, stored: StoredStatus, status: Status | None) -> None:
        if stored.info.run != self.info.run:
            if stored.info.run > self.info.run:
                raise StatusConflict(
                    f"Experiment {self.key} is at run {stored.info.run}, this writer at run {self.info.run}: "
                    "another controller started a newer run; reloading from the stored status"
                )
            return  # this writer starts a new run: the old one is summed up in previousRuns
        if stored.status is None or status is None:
            return
        if not same_history(stored.status, status):
            raise StatusConflict(
                f"the stored status of {self.key} (run {self.info.run}) records {len(stored.status.history)} events "
                "that this controller did not write; reloading the run from the stored status, not overwriting them"
            )

    def _conditions(self, status: Status | None, stored: StoredStatus) -> list[Obj]:
        return conditions(
            status,
            generation=self.info.observed_generation,
            now=self.clock(),
            previous=stored.conditions,
            problem=self.problem,
        )
