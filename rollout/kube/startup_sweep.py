"""The start-up sweep: a new leader removes the faults left by Experiments deleted while no controller ran.

An Experiment deleted mid-run is kept (Terminating) by meshroll's finalizer until its reconcile
reverts it; this sweep is for those that went without it (removed by hand, or the finalizer cleared).
Faults are injected through Istio alone: the sweep reads VirtualServices, and only where this
controller may list them (an install for SMI or Gateway API only grants no Istio kinds), which it asks
the API server first (a SelfSubjectAccessReview, ``access.py``) rather than logging a 403 at each start.
A failed sweep never stops the controller: it is logged, and the next leader sweeps again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from kubernetes import client as k8s

from rollout.chaos_stop import sweep_orphans
from rollout.kube.access import may
from rollout.kube.client import KubeError
from rollout.kube.objects import Experiments, Key

log = logging.getLogger("meshroll.kube.controller")


def sweep_at_start(
    api: k8s.ApiClient, experiments: Experiments, acting: k8s.ApiClient, namespaces: Sequence[str] | None
) -> None:
    """Sweep each watched namespace (``namespaces`` empty: all of them); ``acting`` makes the writes."""
    for scope in namespaces or [""]:
        if not _may_sweep(api, scope):
            continue
        try:
            listed = experiments.list(scope or None)
            live = {f"{k.namespace}/{k.name}" for k in (Key.of(i) for i in listed.get("items") or ())}
            report = sweep_orphans(acting, scope or None, live)
        except Exception as exc:  # a failed sweep must not stop the controller; the next leader retries
            log.warning("start-up sweep of orphan faults in %s failed: %s", scope or "all namespaces", exc)
            continue
        for orphan in report.orphans:
            log.info("swept orphan fault %s", orphan)
        for problem in report.problems:
            log.warning("start-up sweep: %s", problem)


def _may_sweep(api: k8s.ApiClient, scope: str) -> bool:
    """Whether this controller may list VirtualServices in ``scope`` ("": all namespaces); when it cannot
    tell, it tries (the sweep reports what fails)."""
    where = scope or "all namespaces"
    try:
        allowed = may(api, "list", "networking.istio.io", "virtualservices", scope or None)
    except KubeError as exc:
        log.debug("start-up sweep in %s: could not ask whether VirtualServices may be listed (%s)", where, exc)
        return True
    if not allowed:
        log.debug(
            "start-up sweep of orphan faults in %s skipped: this controller may not list VirtualServices (no "
            "Istio in its RBAC, e.g. the chart's meshes.istio is false), so none of its runs injected faults there",
            where,
        )
    return allowed
