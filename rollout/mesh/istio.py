"""The Istio traffic provider: a user's VirtualService, read-modify-written; its DestinationRule, checked.

meshroll never creates or edits the DestinationRule. When the experiment names one
(``spec.mesh.destinationRule``), every move towards the canary first checks that the subsets the
plan routes to exist, and is refused when one does not: a route to a missing subset fails its
requests. A revert (the plan sends all traffic to stable: no canary weight, cohort, mirror or
fault; ``TrafficPlan.is_safe``; rollback, abort, a deleted Experiment) is not refused: with the
DestinationRule deleted or its stable subset gone, meshroll still writes the weights back to 100%
stable, so that the user's routes are as they declared them, and reports the missing subset as a
warning (logged, and passed to ``warn``: the controller posts it as a Warning Event).

What meshroll writes in the VirtualService, and how faults interact with retries and timeouts
(Istio does not enable them on a route while a fault is injected on the client side), is
described in ``render_istio``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chaos.faults import Arm
from rollout.mesh import render_istio
from rollout.mesh.errors import MeshError
from rollout.mesh.kubeobjects import KubeObjects, ObjectNotFound, ObjectRef
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_istio import IstioSettings

GROUP = "networking.istio.io"
VERSION = "v1"
log = logging.getLogger("meshroll.mesh.istio")


class IstioProvider:
    """Applies plans to one VirtualService, touching only what meshroll owns there."""

    def __init__(
        self,
        objects: KubeObjects,
        settings: IstioSettings,
        destination_rule: str | None = None,
        *,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.objects = objects
        self.settings = settings
        self.warn = warn  # told what a revert went ahead despite (besides the log)
        self.virtual_service = ObjectRef(
            GROUP,
            VERSION,
            "virtualservices",
            "VirtualService",
            settings.namespace,
            settings.virtual_service,
            "spec.mesh.virtualService",
        )
        self.destination_rule = (
            ObjectRef(
                GROUP,
                VERSION,
                "destinationrules",
                "DestinationRule",
                settings.namespace,
                destination_rule,
                "spec.mesh.destinationRule",
            )
            if destination_rule
            else None
        )

    def apply(self, plan: TrafficPlan) -> None:
        if not plan.is_safe:
            self.check_subsets(plan)
            self._write(plan)
            return
        problem = self.revert_problem()
        self._write(plan)
        if problem is not None:
            message = (
                f"all traffic of {self.virtual_service.what} routed back to subset {self.settings.stable_subset!r} "
                f"although {problem}; requests to a subset that no DestinationRule declares fail: restore it "
                "(meshroll does not edit DestinationRules)"
            )
            log.warning("%s", message, extra={"experiment": self.settings.owner})
            if self.warn is not None:
                try:
                    self.warn(message)
                except Exception:  # the revert is written: reporting it never undoes that
                    log.exception("could not report a warning", extra={"experiment": self.settings.owner})

    def _write(self, plan: TrafficPlan) -> None:
        self.objects.update(self.virtual_service, lambda vs: render_istio.render(vs, plan, self.settings))

    def holds(self, plan: TrafficPlan) -> bool:
        """Whether the VirtualService holds ``plan`` already (``apply`` would write nothing). Only reads."""
        current = self.objects.get(self.virtual_service)
        return render_istio.render(current, plan, self.settings) == current

    def sweep(self, owner: str) -> list[str]:
        removed: list[str] = []

        def change(vs: dict[str, object]) -> dict[str, object]:
            new, gone = render_istio.sweep(vs, owner, self.settings)
            removed[:] = gone
            return new

        try:
            self.objects.update(self.virtual_service, change)
        except ObjectNotFound:
            return []  # nothing of meshroll's can be left in a VirtualService that does not exist
        return removed

    def check_subsets(self, plan: TrafficPlan) -> None:
        """Raise MeshError when the DestinationRule lacks a subset ``plan`` routes to."""
        if self.destination_rule is None:
            return
        wanted = [self.settings.stable_subset]
        if _routes_to_canary(plan):
            wanted.append(self.settings.canary_subset)
        try:
            rule = self.objects.get(self.destination_rule)
        except ObjectNotFound as exc:  # not "the routing object is gone" (deletion.py): a MeshError of its own
            raise MeshError(
                f"{self.destination_rule.what} not found; create it with the subsets {', '.join(wanted)} "
                "before the experiment routes to them, or fix spec.mesh.destinationRule; meshroll does not edit "
                "DestinationRules"
            ) from exc
        missing = render_istio.missing_subsets(rule, wanted)
        if missing:
            raise MeshError(
                f"{self.destination_rule.what} has no subset {missing[0]!r}; add it (for example name: {missing[0]}, "
                f"labels: {{version: {missing[0]}}}) before the experiment routes to it, or fix "
                "spec.target.*.subset; meshroll does not edit DestinationRules"
            )

    def revert_problem(self) -> str | None:
        """What is wrong with the stable subset a revert routes to (None: nothing, or no DestinationRule named).

        Never raises: a revert goes ahead whatever the DestinationRule says."""
        rule = self.destination_rule
        if rule is None:
            return None
        try:
            found = self.objects.get(rule)
        except ObjectNotFound:
            return f"{rule.what} was not found"
        except MeshError as exc:
            return f"meshroll could not read {rule.what} to check its subsets ({exc})"
        if render_istio.missing_subsets(found, [self.settings.stable_subset]):
            return f"{rule.what} has no subset {self.settings.stable_subset!r}"
        return None


def _routes_to_canary(plan: TrafficPlan) -> bool:
    return (
        plan.canary_weight > 0
        or bool(plan.ab_matches)
        or plan.mirror_percent > 0
        or any(f.cohort and f.arm is Arm.CANARY for f in plan.faults)
    )
