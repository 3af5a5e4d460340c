"""A TrafficPlan rendered into a user's Istio VirtualService, changing only what meshroll owns. Pure.

What meshroll writes (everything else, including the order of the routes it does not add, stays as
it was):

- In the managed http route (``spec.mesh.route``, or the first route to the target host): the
  ``weight`` of the stable and canary destinations (they sum to 100; other destinations keep
  theirs, which must be 0 while the canary has weight: the plan is refused otherwise). A canary
  destination is created, right after the stable one, when the canary first gets traffic, and
  removed again when its weight returns to 0; a canary destination the user wrote is kept, at
  weight 0. A lone stable destination the user left without a weight gets one
  only while it shares the route, and loses it again when it is alone at 100%.
- ``mirror`` and ``mirrorPercentage`` on the managed route while the plan mirrors (removed at 0).
  A mirror the user wrote is never overwritten: mirroring is refused instead.
- ``fault`` on the managed route for faults without a cohort (arm ``both``, or an arm that holds
  all of the route's traffic). A fault the user wrote is never overwritten.
- Route entries inserted just before the managed route, in this order: one per fault with a
  cohort (``meshroll-fault-<index>.<namespace>.<name>``), then the cohort route (an A/B test's match or
  a canary's cohort, ``meshroll-ab-<namespace>.<name>``) and/or the sticky-canary route
  (``meshroll-affinity-<namespace>.<name>``, see ``render_affinity``), then, with a pinned stable
  (``primaryCookieName``), the sticky-stable route (``meshroll-stable-affinity-<namespace>.<name>``).
  Each matches the managed route's own match ANDed with the cohort (or the session cookie), routes
  to the fault's arm (or the canary; the sticky-stable route to the stable destination as written),
  and otherwise copies the managed route (timeouts, retries, headers, rewrite...), so a cohort
  request is treated as before except for where it goes and what is injected (``render_istio_routes``
  builds them).
- With session affinity, a ``Set-Cookie`` in ``headers.response.add`` of the canary destination,
  and of the stable destination when stable is pinned.
- The annotations described in ``render_common``.

Faults and retries: per Istio's API, "timeouts or retries will not be enabled when faults are
enabled on the client side". While meshroll injects a fault on a route, that route's retries and
timeout do not act, so injected aborts reach the caller unretried; they come back when the
fault is removed.

Two cohort routes whose matches overlap: the first wins (fault routes come before the A/B route).
A fault without a cohort on a route that also sends traffic to a third destination hits that
traffic too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rollout.mesh.errors import MeshError, TargetMissing
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_affinity import STABLE, affinity_entries, cookie_field, set_istio_cookie
from rollout.mesh.render_common import (
    Ownership,
    ab_entry_name,
    add_field,
    check_fault_owners,
    claim,
    is_meshroll_name,
    is_owned_name,
    read_ownership,
    refuse_other_weights,
    remove_field,
    revert_beside_others,
    set_weights,
    weight_of,
    write_ownership,
)
from rollout.mesh.render_istio_parts import (
    FAULT_FIELD,
    MIRROR_FIELD,
    MIRROR_KEYS,
    destination_like,
    host_key,
    shared_fault_block,
)
from rollout.mesh.render_istio_routes import ManagedRoute, canary_route, fault_route, stable_route

Obj = dict[str, Any]

ROUTES_ANNOTATION = "meshroll.io/owned-routes"
LIVE_FIELDS = (FAULT_FIELD, MIRROR_FIELD)


@dataclass(frozen=True)
class IstioSettings:
    """Where meshroll's share of a VirtualService is: the experiment's target, as the spec names it."""

    owner: str  # the experiment's namespace/name
    namespace: str
    virtual_service: str
    host: str
    stable_subset: str
    canary_subset: str
    route: str | None = None

    @property
    def what(self) -> str:
        return f"VirtualService {self.namespace}/{self.virtual_service}"

    @property
    def canary_destination_field(self) -> str:
        return f"route[subset={self.canary_subset}]"

    @property
    def cookie_field(self) -> str:
        return cookie_field(self.canary_destination_field)

    @property
    def primary_cookie_field(self) -> str:
        """The owned-fields mark of the Set-Cookie on the stable destination (``primaryCookieName``)."""
        return cookie_field(f"route[subset={self.stable_subset}]")


def render(current: Mapping[str, Any], plan: TrafficPlan, settings: IstioSettings) -> Obj:
    """The VirtualService holding ``plan``; ``current`` is not modified. Raises MeshError when it cannot."""
    check_fault_owners(plan.faults, settings.owner)
    vs: Obj = copy.deepcopy(dict(current))
    routes = _http(vs, settings)
    present = [key for key in LIVE_FIELDS if key in routes[managed_index(routes, settings)]]
    ownership = claim(
        read_ownership(vs, ROUTES_ANNOTATION),
        settings.owner,
        settings.what,
        entries=[r.get("name") for r in routes],
        live_fields=present,
    )
    routes = [r for r in routes if not _is_mine(r, ownership, settings.owner)]
    index = managed_index(routes, settings)
    managed = routes[index]
    label = route_label(managed, settings)
    stable = _set_weights(managed, plan, settings, ownership, label)
    canary = _find_destination(managed["route"], settings.canary_subset, settings)
    set_istio_cookie(canary, plan.affinity, ownership, settings.cookie_field, label)
    set_istio_cookie(stable, plan.affinity, ownership, settings.primary_cookie_field, label, STABLE)
    _set_mirror(managed, plan.mirror_percent, stable, settings, ownership, label)
    arms = {arm for arm, weight in (("stable", plan.stable_weight), ("canary", plan.canary_weight)) if weight > 0}
    _set_route_fault(managed, shared_fault_block(plan.faults, arms, label), ownership, label)
    base = ManagedRoute(managed, stable, ownership, settings.stable_subset, settings.canary_subset, label)
    added = [fault_route(f, base) for f in plan.faults if f.cohort and (f.delay is not None or f.abort is not None)]
    if plan.ab_matches:
        added.append(canary_route(ab_entry_name(settings.owner), plan.ab_matches, "the cohort", plan.faults, base))
    for name, cohort, arm in affinity_entries(plan.affinity, settings.owner):
        if arm == STABLE:
            added.append(stable_route(name, cohort, plan.faults, base))
        else:
            added.append(canary_route(name, cohort, "the session cookie", plan.faults, base))
    routes[index:index] = added
    vs["spec"]["http"] = routes
    ownership.entries = [str(r["name"]) for r in added]
    write_ownership(vs, ownership, ROUTES_ANNOTATION)
    return vs


def sweep(current: Mapping[str, Any], owner: str, settings: IstioSettings) -> tuple[Obj, list[str]]:
    """Remove what ``owner`` injected (fault, A/B and affinity routes, the route's fault, mirror and
    session cookies); keep weights.

    Returns the new object and what was removed (route names, ``<route>.fault``, ``<route>.mirror``,
    ``<route>.Set-Cookie`` for the canary's cookie, ``<route>.route[subset=<stable>].Set-Cookie`` for stable's).
    Works from the annotations and, should they be lost, from the entry names alone.
    """
    vs: Obj = copy.deepcopy(dict(current))
    ownership = read_ownership(vs, ROUTES_ANNOTATION)
    mine = ownership if ownership.owner == owner else Ownership()
    routes = vs.get("spec", {}).get("http")
    if not isinstance(routes, list):
        return vs, []
    removed = [str(r.get("name")) for r in routes if _is_mine(r, mine, owner)]
    kept = [r for r in routes if not _is_mine(r, mine, owner)]
    try:
        managed: Obj | None = kept[managed_index(kept, settings)]
    except MeshError:
        managed = None
    if managed is not None and ownership.owner == owner:
        label = route_label(managed, settings)
        if FAULT_FIELD in ownership.fields:
            managed.pop("fault", None)
            remove_field(ownership, FAULT_FIELD)
            removed.append(f"{label}.fault")
        if MIRROR_FIELD in ownership.fields:
            for key in ("mirror", "mirrorPercentage"):
                managed.pop(key, None)
            remove_field(ownership, MIRROR_FIELD)
            removed.append(f"{label}.mirror")
        if settings.cookie_field in ownership.fields and isinstance(managed.get("route"), list):
            canary = _find_destination(managed["route"], settings.canary_subset, settings)
            set_istio_cookie(canary, None, ownership, settings.cookie_field, label)
            removed.append(f"{label}.Set-Cookie")
        if settings.primary_cookie_field in ownership.fields and isinstance(managed.get("route"), list):
            stable = _find_destination(managed["route"], settings.stable_subset, settings)
            set_istio_cookie(stable, None, ownership, settings.primary_cookie_field, label, STABLE)
            removed.append(f"{label}.{settings.primary_cookie_field}")
    if not removed:
        return vs, []
    vs["spec"]["http"] = kept
    if ownership.owner == owner:
        ownership.entries = []
        write_ownership(vs, ownership, ROUTES_ANNOTATION)
    return vs, removed


def missing_subsets(destination_rule: Mapping[str, Any], subsets: Iterable[str]) -> list[str]:
    """The subsets a DestinationRule lacks, in the order asked."""
    spec = destination_rule.get("spec")
    declared = spec.get("subsets") if isinstance(spec, dict) else None
    names = {s.get("name") for s in declared if isinstance(s, dict)} if isinstance(declared, list) else set()
    return [s for s in subsets if s not in names]


# --- finding things -----------------------------------------------------------------------------


def _http(vs: Obj, settings: IstioSettings) -> list[Obj]:
    spec = vs.get("spec")
    routes = spec.get("http") if isinstance(spec, dict) else None
    if not isinstance(routes, list) or not routes:
        raise MeshError(
            f"{settings.what} has no http routes; add one that routes to host {settings.host} "
            f"(subset {settings.stable_subset}); meshroll only adjusts it"
        )
    if not all(isinstance(r, dict) for r in routes):
        raise MeshError(f"{settings.what} has an http entry that is not an object; fix it with kubectl edit")
    return routes


def _is_mine(route: Mapping[str, Any], ownership: Ownership, owner: str) -> bool:
    name = route.get("name")
    return is_owned_name(name, owner) or (ownership.owner == owner and name in ownership.entries)


def _to_host(route: Mapping[str, Any], settings: IstioSettings) -> bool:
    wanted = host_key(settings.host, settings.namespace)
    destinations = route.get("route")
    return isinstance(destinations, list) and any(
        isinstance(d, dict)
        and isinstance(d.get("destination"), dict)
        and host_key(str(d["destination"].get("host", "")), settings.namespace) == wanted
        for d in destinations
    )


def managed_index(routes: list[Obj], settings: IstioSettings) -> int:
    """The route meshroll weights: the one named in the spec, else the first to the target host."""
    candidates = [(i, r) for i, r in enumerate(routes) if not is_meshroll_name(r.get("name"))]
    if settings.route is not None:
        for i, route in candidates:
            if route.get("name") == settings.route:
                return i
        names = ", ".join(str(r.get("name", "<unnamed>")) for _, r in candidates)
        raise TargetMissing(
            f"{settings.what} has no http route named {settings.route!r} (it has: {names}); "
            "fix spec.mesh.route, or give the route that name"
        )
    for i, route in candidates:
        if _to_host(route, settings):
            return i
    raise TargetMissing(
        f"{settings.what} has no http route to host {settings.host}; add one to subset {settings.stable_subset}, "
        "or set spec.mesh.host / spec.mesh.route"
    )


def route_label(route: Mapping[str, Any], settings: IstioSettings) -> str:
    name = route.get("name")
    return f"http route {name!r} of {settings.what}" if name else f"the first http route to {settings.host}"


def _find_destination(destinations: list[Any], subset: str, settings: IstioSettings) -> Obj | None:
    wanted = host_key(settings.host, settings.namespace)
    for entry in destinations:
        target = entry.get("destination") if isinstance(entry, dict) else None
        if (
            isinstance(target, dict)
            and target.get("subset") == subset
            and host_key(str(target.get("host", "")), settings.namespace) == wanted
        ):
            return entry  # type: ignore[no-any-return]
    return None


# --- what meshroll writes on the managed route --------------------------------------------------


def _set_weights(managed: Obj, plan: TrafficPlan, s: IstioSettings, ownership: Ownership, label: str) -> Obj:
    """Set the two weights; returns the stable destination entry."""
    destinations = managed.get("route")
    if not isinstance(destinations, list):
        raise MeshError(f"{label} has no route[] destinations (a delegate or redirect?); point spec.mesh.route at one")
    stable = _find_destination(destinations, s.stable_subset, s)
    if stable is None:
        raise TargetMissing(
            f"{label} has no destination with host {s.host} and subset {s.stable_subset}; add it "
            "(meshroll weights it but does not create it), or fix spec.target.stable.subset"
        )
    canary = _find_destination(destinations, s.canary_subset, s)
    returned = weight_of(canary)
    created = s.canary_destination_field
    if canary is None and plan.canary_weight > 0:
        canary = {"destination": destination_like(stable.get("destination"), s.canary_subset), "weight": 0}
        destinations.insert(destinations.index(stable) + 1, canary)
        add_field(ownership, created)
    if plan.canary_weight == 0 and created in ownership.fields:
        if canary is not None:
            destinations.remove(canary)
            canary = None
        remove_field(ownership, created)
    field = f"route[subset={s.stable_subset}].weight"
    if plan.canary_weight == 0 and revert_beside_others(destinations, stable, canary, returned, ownership, field):
        return stable
    refuse_other_weights(destinations, stable, canary, plan, label)
    set_weights(destinations, stable, canary, plan, ownership, field)
    return stable


def _set_mirror(managed: Obj, percent: float, stable: Obj, s: IstioSettings, ownership: Ownership, label: str) -> None:
    owned = MIRROR_FIELD in ownership.fields
    if percent > 0:
        if not owned and any(key in managed for key in MIRROR_KEYS):
            raise MeshError(
                f"{label} already mirrors traffic (a mirror the user wrote); meshroll will not overwrite it: "
                "remove it from the route, or drop spec.strategy.mirror"
            )
        managed["mirror"] = destination_like(stable.get("destination"), s.canary_subset)
        managed["mirrorPercentage"] = {"value": float(percent)}
        add_field(ownership, MIRROR_FIELD)
    elif owned:
        managed.pop("mirror", None)
        managed.pop("mirrorPercentage", None)
        remove_field(ownership, MIRROR_FIELD)


def _set_route_fault(managed: Obj, block: Obj | None, ownership: Ownership, label: str) -> None:
    owned = FAULT_FIELD in ownership.fields
    if block is not None:
        if "fault" in managed and not owned:
            raise MeshError(
                f"{label} already has a fault the user wrote; meshroll will not overwrite it: remove it, "
                "or give meshroll's fault a match so that it gets a route of its own"
            )
        managed["fault"] = block
        add_field(ownership, FAULT_FIELD)
    elif owned:
        managed.pop("fault", None)
        remove_field(ownership, FAULT_FIELD)
