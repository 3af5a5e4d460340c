"""Acting on meshroll's finalizer (``finalizer.py`` decides): putting it on and off, and finalizing a
deleted Experiment.

``hold`` adds or removes only ``meshroll.io/revert`` in ``metadata.finalizers``, with a JSON merge
patch of that one field conditional on the ``resourceVersion`` read: on 409 the object is read
again and the change redone on the new version, so nobody else's finalizer (nor the spec) is ever
overwritten. ``finalize`` reverts the mesh of a deleted Experiment's run (the run's own provider
when it runs here, else one built as the run factory builds it: after a restart nothing else is
left), posts an Event that says what was done, and removes the finalizer. A revert that may succeed
later raises ``RevertFailed``: the finalizer stays and the controller retries after a backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from rollout.kube.client import Conflict, KubeError, NotFound, NotLeader
from rollout.kube.document import RunInfo, split
from rollout.kube.events import EventRecorder, EventText
from rollout.kube.finalizer import (
    FINALIZER,
    Release,
    Revert,
    deleting,
    finalizers,
    force_delete,
    on_deletion,
    with_ours,
    without_ours,
)
from rollout.kube.objects import Experiments, InvalidExperiment, Key, reference
from rollout.kube.runs import ExperimentRun, revert
from rollout.mesh.errors import MeshError, TargetMissing
from rollout.mesh.kubeobjects import ObjectNotFound
from rollout.mesh.provider import TrafficProvider

Obj = dict[str, Any]
log = logging.getLogger("meshroll.kube.deletion")

MAX_ATTEMPTS = 5
ProviderFor = Callable[[Key, Mapping[str, Any], RunInfo], TrafficProvider]


class RevertFailed(KubeError):
    """A deleted Experiment's traffic could not be routed back to stable yet: the finalizer stays, retried later."""


class Finalizer:
    def __init__(self, experiments: Experiments, recorder: EventRecorder, provider_for: ProviderFor) -> None:
        self.experiments = experiments
        self.recorder = recorder
        self.provider_for = provider_for

    def hold(self, key: Key, obj: Obj, want: bool) -> Obj:
        """Put meshroll's finalizer on ``obj`` (``want``) or take it off; the object as it now is."""
        for _ in range(MAX_ATTEMPTS):
            names = finalizers(obj)
            target = with_ours(names) if want else without_ours(names)
            if target == names or (want and deleting(obj)):  # no finalizer may be added to a deleted object
                return obj
            version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            try:
                obj = self.experiments.patch_finalizers(key, target, version)
            except Conflict:
                obj = self.experiments.get(key)  # changed since read: redo on the new version
                continue
            except NotFound:
                if want:
                    raise
                return obj  # gone already: nothing holds it
            log.info("%s: finalizer %s %s", key, FINALIZER, "added" if want else "removed")
            return obj
        raise KubeError(
            f"the metadata of Experiment {key} changed {MAX_ATTEMPTS} times in a row while meshroll set its "
            "finalizer; something else keeps writing it - meshroll retries",
            temporary=True,
        )

    def finalize(self, key: Key, obj: Obj, run: ExperimentRun | None) -> None:
        """Revert the mesh of the deleted Experiment ``obj`` if its run is under way, then remove the finalizer.

        ``run``: the current run when it ran here (stopped by the caller), else None. Raises
        RevertFailed (the finalizer stays) when the revert failed and a retry may succeed.
        """
        stored = split(obj.get("status"))
        current = run if run is not None and run.number == stored.info.run else None
        decision = on_deletion(stored.info.run, current.status if current is not None else stored.status)
        if isinstance(decision, Release):
            log.info("%s is being deleted: %s; removing the finalizer %s", key, decision.reason, FINALIZER)
            if stored.status is not None:
                note = f"deleted: {decision.reason}; removing the finalizer {FINALIZER}"
                self.recorder.record(reference(obj), EventText("Normal", "Released", "Delete", note))
        else:
            self._revert(key, obj, stored.info, current, decision)
        self.hold(key, obj, False)

    def _revert(self, key: Key, obj: Obj, info: RunInfo, run: ExperimentRun | None, decision: Revert) -> None:
        if run is not None:
            route_to_stable: Callable[[], list[str]] = run.route_to_stable
        else:
            try:
                provider = self.provider_for(key, obj, info)
            except (InvalidExperiment, MeshError) as exc:  # this spec reaches no mesh: nothing to revert with
                self._impossible(key, obj, decision, f"the run's spec builds no provider: {exc}")
                return
            route_to_stable = lambda: revert(provider, key)  # noqa: E731
        log.warning("%s was deleted during %s: routing all traffic back to stable", key, decision.what)
        try:
            swept = route_to_stable()
        except ObjectNotFound as exc:  # the routing object (or its kind) is gone: nothing is left to revert
            self._impossible(key, obj, decision, str(exc))
            return
        except TargetMissing as exc:
            stored = split(obj.get("status")).status
            ran = run.orchestrator.status if run is not None else stored
            if ran is not None and ran.ever_applied:
                raise RevertFailed(self._failed(key, exc), temporary=True) from exc
            note = (
                f"deleted during {decision.what}, which the mesh never took a split of, so nothing is routed back "
                f"({' '.join(str(exc).split())}); removing the finalizer {FINALIZER}"
            )
            log.info("%s: %s", key, note)
            self.recorder.record(reference(obj), EventText("Normal", "Released", "Delete", note))
            return
        except NotLeader:
            raise
        except (MeshError, KubeError) as exc:  # the mesh refused or the API server is away: keep the finalizer, retry
            raise RevertFailed(self._failed(key, exc), temporary=True) from exc
        swept_too = f" (swept: {', '.join(swept)})" if swept else ""
        note = (
            f"deleted during {decision.what}: all traffic routed back to stable and its faults removed{swept_too}; "
            f"removing the finalizer {FINALIZER}"
        )
        log.info("%s: %s", key, note)
        self.recorder.record(reference(obj), EventText("Normal", "Reverted", "Delete", note))

    @staticmethod
    def _failed(key: Key, exc: Exception) -> str:
        return (
            f"{key} is being deleted but routing its traffic back to stable failed; meshroll keeps the "
            f"finalizer {FINALIZER} and retries (to delete it without reverting the mesh: "
            f"{force_delete(key.namespace, key.name)}): {' '.join(str(exc).split())}"
        )

    def _impossible(self, key: Key, obj: Obj, decision: Revert, why: str) -> None:
        note = (
            f"deleted during {decision.what}; the mesh cannot be reverted and meshroll does not retry: {why}; "
            f"removing the finalizer {FINALIZER}"
        )
        log.warning("%s: %s", key, note)
        self.recorder.record(reference(obj), EventText("Warning", "NotReverted", "Delete", note))
