"""Session affinity (a sticky canary) in a user's routing object: the Set-Cookie meshroll adds. Pure.

While a canary run sends traffic to both arms with ``strategy.canary.sessionAffinity``, meshroll
adds, besides the weights:

- a ``Set-Cookie: <cookieName>=<run>; Max-Age=<maxAge>; Path=/`` response header on the canary's
  weighted destination in the managed entry, so a user the weights send to the canary gets the
  cookie: Istio ``route[].headers.response.add`` (HTTPRouteDestination), Gateway API a
  ``ResponseHeaderModifier`` filter on the canary backendRef (HTTPBackendRef ``filters``);
- an entry ``meshroll-affinity-<namespace>.<name>`` just before the managed entry that sends
  requests carrying the cookie to the canary (a regular expression on the ``cookie`` header,
  ANDed with the managed entry's own matches); the renderers build it like the A/B entry.

With ``primaryCookieName`` (stable pinned too, as Flagger's option of that name), the same for
stable: ``Set-Cookie: <primaryCookieName>=<run>; Max-Age=<maxAge>; Path=/`` on the stable's
weighted destination, and an entry ``meshroll-stable-affinity-<namespace>.<name>`` (after the
canary's) sending requests carrying that cookie to stable, so a user first served by stable is
not moved to the canary as its weight grows. That entry routes to a copy of the stable destination
as the user wrote it (its headers and filters kept), without the cookie.

All of it goes when the plan has no affinity (rollback, abort, supersession, promotion): sticky
users then follow the weights again, and their cookies route nothing. A Set-Cookie the user wrote
on a destination meshroll sets one on is never overwritten or doubled: the plan is refused
instead. Each header is recorded in ``meshroll.io/owned-fields`` (``<destination>.Set-Cookie``,
e.g. ``route[subset=v2].Set-Cookie``, ``route[subset=v1].Set-Cookie``) while it is there.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from chaos.matching import RequestMatch
from rollout.mesh.errors import MeshError
from rollout.mesh.plan import StickySession
from rollout.mesh.render_common import (
    Ownership,
    add_field,
    affinity_entry_name,
    remove_field,
    stable_affinity_entry_name,
)

Obj = dict[str, Any]

SET_COOKIE = "Set-Cookie"
RESPONSE_MODIFIER = "ResponseHeaderModifier"


CANARY = "canary"
STABLE = "stable"


def cookie_field(destination_field: str) -> str:
    """The owned-fields mark of the Set-Cookie on a destination (``route[subset=v2].Set-Cookie``)."""
    return f"{destination_field}.{SET_COOKIE}"


def affinity_entries(sticky: StickySession | None, owner: str) -> list[tuple[str, tuple[RequestMatch, ...], str]]:
    """The entries ``sticky`` adds just before the managed one, in their order, as (name, match, arm):
    the sticky-canary entry, then, with a pinned stable, the sticky-stable entry (none without affinity)."""
    if sticky is None:
        return []
    entries: list[tuple[str, tuple[RequestMatch, ...], str]] = [(affinity_entry_name(owner), (sticky.match,), CANARY)]
    if sticky.primary_match is not None:
        entries.append((stable_affinity_entry_name(owner), (sticky.primary_match,), STABLE))
    return entries


def _value(sticky: StickySession | None, arm: str) -> str | None:
    """The Set-Cookie ``arm``'s weighted answers carry under ``sticky`` (None: none)."""
    if sticky is None:
        return None
    return sticky.set_cookie if arm == CANARY else sticky.primary_set_cookie


def _refuse(arm: str, label: str, where: str) -> MeshError:
    drop = "spec.strategy.canary.sessionAffinity" + (".primaryCookieName" if arm == STABLE else "")
    return MeshError(
        f"the {arm} destination of {label} already sets a Set-Cookie header ({where}, written by the user); "
        f"meshroll will not overwrite it or add a second one: remove it, or drop {drop}"
    )


# --- Istio: HTTPRouteDestination.headers.response.add ------------------------------------------------


def _is_set_cookie(name: object) -> bool:
    return isinstance(name, str) and name.lower() == SET_COOKIE.lower()


def _drop_istio(destination: Obj) -> None:
    headers = destination.get("headers")
    response = headers.get("response") if isinstance(headers, dict) else None
    added = response.get("add") if isinstance(response, dict) else None
    if not isinstance(added, dict):
        return
    for key in [k for k in added if _is_set_cookie(k)]:
        del added[key]
    for container, key, parent in ((added, "add", response), (response, "response", headers)):
        if not container and isinstance(parent, dict):
            del parent[key]
    if isinstance(headers, dict) and not headers:
        del destination["headers"]


def set_istio_cookie(
    destination: Obj | None,
    sticky: StickySession | None,
    ownership: Ownership,
    field: str,
    label: str,
    arm: str = CANARY,
) -> None:
    """Put the plan's Set-Cookie for ``arm`` on its destination (or take meshroll's away when it has none)."""
    if field in ownership.fields:
        if destination is not None:
            _drop_istio(destination)
        remove_field(ownership, field)
    value = _value(sticky, arm)
    if value is None:
        return
    if destination is None:
        raise MeshError(f"{label} has no {arm} destination to set the session cookie on")  # weights > 0 add one
    headers = destination.get("headers")
    response = headers.get("response", {}) if isinstance(headers, dict) else {}
    for op in ("add", "set"):
        values = response.get(op) if isinstance(response, dict) else None
        if isinstance(values, dict) and any(_is_set_cookie(k) for k in values):
            raise _refuse(arm, label, f"headers.response.{op}")
    headers = destination.setdefault("headers", {})
    headers.setdefault("response", {}).setdefault("add", {})[SET_COOKIE] = value
    add_field(ownership, field)


def istio_without_cookie(destination: Obj) -> Obj:
    """A copy of ``destination`` without meshroll's Set-Cookie (a pinned route does not renew the cookie)."""
    result = copy.deepcopy(destination)
    _drop_istio(result)
    return result


# --- Gateway API: HTTPBackendRef.filters[ResponseHeaderModifier] ---------------------------------------


def _modifier(ref: Mapping[str, Any]) -> Obj | None:
    filters = ref.get("filters")
    for item in filters if isinstance(filters, list) else []:
        if isinstance(item, dict) and item.get("type") == RESPONSE_MODIFIER:
            return item
    return None


def _drop_gateway(ref: Obj) -> None:
    item = _modifier(ref)
    if item is None:
        return
    modifier = item.get("responseHeaderModifier")
    added = modifier.get("add") if isinstance(modifier, dict) else None
    if not isinstance(modifier, dict) or not isinstance(added, list):
        return
    kept = [h for h in added if not (isinstance(h, dict) and _is_set_cookie(h.get("name")))]
    if kept:
        modifier["add"] = kept
        return
    del modifier["add"]
    if not modifier:
        ref["filters"].remove(item)
        if not ref["filters"]:
            del ref["filters"]


def set_gateway_cookie(
    ref: Obj | None,
    sticky: StickySession | None,
    ownership: Ownership,
    field: str,
    label: str,
    arm: str = CANARY,
) -> None:
    """Put the plan's Set-Cookie for ``arm`` on its backendRef (or take meshroll's away when it has none)."""
    if field in ownership.fields:
        if ref is not None:
            _drop_gateway(ref)
        remove_field(ownership, field)
    value = _value(sticky, arm)
    if value is None:
        return
    if ref is None:
        raise MeshError(f"{label} has no {arm} backendRef to set the session cookie on")  # weights > 0 add one
    item = _modifier(ref)
    modifier = item.get("responseHeaderModifier") if item is not None else None
    for op in ("add", "set"):
        values = modifier.get(op) if isinstance(modifier, dict) else None
        if isinstance(values, list) and any(isinstance(h, dict) and _is_set_cookie(h.get("name")) for h in values):
            raise _refuse(arm, label, f"a ResponseHeaderModifier filter's {op}")
    header = {"name": SET_COOKIE, "value": value}
    if isinstance(modifier, dict):
        modifier["add"] = [*(modifier.get("add") or []), header]
    else:
        filters = ref.setdefault("filters", [])
        filters.append({"type": RESPONSE_MODIFIER, "responseHeaderModifier": {"add": [header]}})
    add_field(ownership, field)
