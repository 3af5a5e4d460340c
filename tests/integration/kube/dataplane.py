"""A stand-in for Istio's data plane in tests: the embedded mesh follows a VirtualService.

There is no Envoy here. ``IstioDataPlane`` watches one VirtualService on the API server and, on
every change, translates what meshroll writes in it into a ``TrafficPlan`` that the embedded mesh
(``LocalMeshThread``) applies, so that real HTTP traffic through the mesh is split, mirrored and
faulted the way Istio would split it, and the mesh's Istio-style metrics (scraped by a real
Prometheus) reflect the controller's decisions.

What it reads (``translate``, pure):

- the managed route (by name): the weights of the stable and canary subsets (a lone destination
  without a weight holds 100), ``mirror``/``mirrorPercentage`` (a mirror to the canary), and a
  ``fault`` on it (delay and/or abort, for every request of the route: arm ``both``);
- ``meshroll-ab-*`` routes: their exact header matches become the A/B cohort;
- ``meshroll-fault-*`` routes: a fault for the cohort of exact header matches, on the arm the route
  sends to.

Everything else in the VirtualService (other routes, timeouts, retries, regex matches) is ignored:
the harness follows what meshroll owns, which is what the tests look at.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from chaos.faults import Abort, Arm, Delay, Fault
from chaos.matching import MatchKind, RequestMatch, StringMatch
from rollout.localmesh import LocalMeshThread
from rollout.mesh.plan import TrafficPlan

log = logging.getLogger("tests.dataplane")
Obj = dict[str, Any]


def translate(vs: Mapping[str, Any], route: str, stable: str, canary: str) -> TrafficPlan:
    """What the embedded mesh should do for a VirtualService (see the module's docstring)."""
    routes = [r for r in (vs.get("spec") or {}).get("http") or () if isinstance(r, dict)]
    managed = next(r for r in routes if r.get("name") == route)
    destinations = managed.get("route") or []
    weights: dict[str, int] = {}
    for d in destinations:
        subset = (d.get("destination") or {}).get("subset")
        weights[subset] = int(d.get("weight", 100 if len(destinations) == 1 else 0))
    canary_weight = weights.get(canary, 0)
    mirror = 0.0
    if managed.get("mirror"):
        mirror = float((managed.get("mirrorPercentage") or {}).get("value", 100.0))
    faults: list[Fault] = []
    if managed.get("fault"):
        faults.append(_fault("route", Arm.BOTH, managed["fault"], ()))
    ab: tuple[RequestMatch, ...] = ()
    for entry in routes:
        name = str(entry.get("name") or "")
        if name.startswith("meshroll-ab-"):
            ab = _matches(entry)
        elif name.startswith("meshroll-fault-") and entry.get("fault"):
            subsets = {(d.get("destination") or {}).get("subset") for d in entry.get("route") or ()}
            arm = Arm.CANARY if subsets == {canary} else Arm.STABLE if subsets == {stable} else Arm.BOTH
            faults.append(_fault(name, arm, entry["fault"], _matches(entry)))
    return TrafficPlan(
        stable_weight=100 - canary_weight,
        canary_weight=canary_weight,
        ab_matches=ab,
        mirror_percent=mirror,
        faults=tuple(faults),
    )


def _matches(entry: Mapping[str, Any]) -> tuple[RequestMatch, ...]:
    found = []
    for match in entry.get("match") or ():
        headers = tuple(
            (name, StringMatch(MatchKind.EXACT, str(cond["exact"])))
            for name, cond in (match.get("headers") or {}).items()
            if isinstance(cond, dict) and "exact" in cond
        )
        if headers:
            found.append(RequestMatch(headers=headers))
    return tuple(found)


def _fault(name: str, arm: Arm, block: Mapping[str, Any], cohort: tuple[RequestMatch, ...]) -> Fault:
    delay = abort = None
    if "delay" in block:
        fixed = str(block["delay"].get("fixedDelay", "0ms"))
        ms = float(fixed[:-2]) if fixed.endswith("ms") else float(fixed.rstrip("s")) * 1000.0
        delay = Delay(ms, float((block["delay"].get("percentage") or {}).get("value", 0.0)))
    if "abort" in block:
        percent = float((block["abort"].get("percentage") or {}).get("value", 0.0))
        spec = block["abort"]
        abort = Abort(percent, http_status=spec.get("httpStatus"), grpc_status=spec.get("grpcStatus"))
    return Fault(id=f"vs#{name}", owner="virtualservice", arm=arm, delay=delay, abort=abort, cohort=cohort)


class IstioDataPlane:
    """Keeps ``mesh`` in step with one VirtualService (watch, translate, apply) until ``stop``."""

    def __init__(
        self,
        api: k8s.ApiClient,
        mesh: LocalMeshThread,
        namespace: str,
        name: str,
        *,
        route: str = "primary",
        stable: str = "v1",
        canary: str = "v2",
    ) -> None:
        self.custom = k8s.CustomObjectsApi(api)
        self.mesh = mesh
        self.namespace, self.name, self.route, self.stable, self.canary = namespace, name, route, stable, canary
        self.applied_version = ""  # resourceVersion of the VirtualService the mesh holds
        self.plans: list[TrafficPlan] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="test-dataplane", daemon=True)

    def start(self) -> IstioDataPlane:
        self._follow(self.custom.get_namespaced_custom_object(
            "networking.istio.io", "v1", self.namespace, "virtualservices", self.name
        ))  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _follow(self, vs: Obj) -> None:
        plan = translate(vs, self.route, self.stable, self.canary)
        if not self.plans or plan != self.plans[-1]:
            self.mesh.apply(plan)
            self.plans.append(plan)
        self.applied_version = str(vs["metadata"]["resourceVersion"])

    def _loop(self) -> None:
        watch_module: Any = k8s_watch
        while not self._stop.is_set():
            try:
                stream = watch_module.Watch().stream(
                    self.custom.list_namespaced_custom_object,
                    "networking.istio.io",
                    "v1",
                    self.namespace,
                    "virtualservices",
                    field_selector=f"metadata.name={self.name}",
                    resource_version=self.applied_version,
                    timeout_seconds=2,
                )
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._follow(event["object"])
                    if self._stop.is_set():
                        break
            except Exception as exc:  # a watch that expired or broke: read the object again
                log.warning("data plane watch: %s", exc)
                self._stop.wait(0.2)
                try:
                    self._follow(self.custom.get_namespaced_custom_object(
                        "networking.istio.io", "v1", self.namespace, "virtualservices", self.name
                    ))  # fmt: skip
                except Exception as again:
                    log.warning("data plane read: %s", again)
