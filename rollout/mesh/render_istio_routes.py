"""The route entries meshroll adds to a VirtualService, just before the managed route. Pure.

One per fault with a cohort, the cohort route (an A/B test's match or a canary's cohort), the
sticky-canary route and, with a pinned stable, the sticky-stable route (see ``render_affinity``).
Each matches the managed route's own match ANDed with its cohort (or session cookie), sends it to
one arm (a fault's route: to the fault's arm), and otherwise copies the managed route (timeouts,
retries, headers, rewrite...) without what meshroll set there; ``render_istio`` puts them in place.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chaos.faults import Arm, Fault
from chaos.matching import RequestMatch
from rollout.mesh.render_affinity import istio_without_cookie
from rollout.mesh.render_common import Ownership, fault_entry_name
from rollout.mesh.render_istio_parts import (
    FAULT_FIELD,
    MIRROR_FIELD,
    MIRROR_KEYS,
    destination_like,
    fault_block,
    merged_matches,
    shared_fault_block,
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class ManagedRoute:
    """The managed route as the entries before it copy it, once meshroll has set its weights, mirror,
    fault and cookies: the route, its stable destination, what meshroll holds in it, the two arms'
    subsets, and how messages name it."""

    route: Obj
    stable: Obj
    ownership: Ownership
    stable_subset: str
    canary_subset: str
    label: str


def _behaviour(base: ManagedRoute) -> Obj:
    """What a cohort route copies from the managed route: all but its identity, match, destinations
    and what meshroll set there."""
    skip = {"name", "match", "route"}
    if FAULT_FIELD in base.ownership.fields:
        skip.add("fault")
    if MIRROR_FIELD in base.ownership.fields:
        skip.update(MIRROR_KEYS)
    return {key: copy.deepcopy(value) for key, value in base.route.items() if key not in skip}


def _arm_destinations(arm: Arm, base: ManagedRoute) -> list[Obj]:
    if arm is Arm.BOTH:
        return copy.deepcopy(list(base.route["route"]))
    subset = base.canary_subset if arm is Arm.CANARY else base.stable_subset
    return [{"destination": destination_like(base.stable.get("destination"), subset), "weight": 100}]


def fault_route(fault: Fault, base: ManagedRoute) -> Obj:
    """A route injecting ``fault`` into the requests of its cohort, sent to the fault's arm."""
    name = fault_entry_name(fault)
    block = fault_block([fault], f"route {name}")
    route: Obj = {
        "name": name,
        "match": merged_matches(base.route.get("match"), fault.cohort, f"the cohort of fault {fault.id}", base.label),
        "route": _arm_destinations(fault.arm, base),
        **_behaviour(base),
    }
    if block is not None:
        route["fault"] = block
    return route


def canary_route(
    name: str, cohort: tuple[RequestMatch, ...], what: str, faults: Iterable[Fault], base: ManagedRoute
) -> Obj:
    """A route sending ``cohort`` (the A/B or canary cohort, or the holders of the session cookie) to the canary."""
    route: Obj = {
        "name": name,
        "match": merged_matches(base.route.get("match"), cohort, what, base.label),
        "route": _arm_destinations(Arm.CANARY, base),
        **_behaviour(base),
    }
    block = shared_fault_block(faults, {"canary"}, f"route {name}")
    if block is not None:
        route["fault"] = block
    return route


def stable_route(name: str, cohort: tuple[RequestMatch, ...], faults: Iterable[Fault], base: ManagedRoute) -> Obj:
    """A route sending the holders of stable's session cookie to the stable destination as the user wrote
    it (its headers kept; meshroll's Set-Cookie not: the pinned route does not renew the cookie). The
    managed route's mirror, meshroll's too, is kept: pinned users are stable's traffic, mirrored as before."""
    destination = istio_without_cookie(base.stable)
    destination["weight"] = 100
    route: Obj = {
        "name": name,
        "match": merged_matches(base.route.get("match"), cohort, "stable's session cookie", base.label),
        "route": [destination],
        **_behaviour(base),
        **{key: copy.deepcopy(base.route[key]) for key in MIRROR_KEYS if key in base.route},
    }
    block = shared_fault_block(faults, {"stable"}, f"route {name}")
    if block is not None:
        route["fault"] = block
    return route
