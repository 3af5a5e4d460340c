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

Both go when the plan has no affinity (rollback, abort, supersession, promotion): sticky users
then follow the weights again, and their cookie routes nothing. A Set-Cookie the user wrote on
the canary destination is never overwritten or doubled: the plan is refused instead. The header
is recorded in ``meshroll.io/owned-fields`` (``<canary destination>.Set-Cookie``) while it is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollout.mesh.errors import MeshError
from rollout.mesh.plan import StickySession
from rollout.mesh.render_common import Ownership, add_field, remove_field

Obj = dict[str, Any]

SET_COOKIE = "Set-Cookie"
RESPONSE_MODIFIER = "ResponseHeaderModifier"


def cookie_field(destination_field: str) -> str:
    """The owned-fields mark of the Set-Cookie on the canary destination (``route[subset=v2].Set-Cookie``)."""
    return f"{destination_field}.{SET_COOKIE}"


def _refuse(label: str, where: str) -> MeshError:
    return MeshError(
        f"the canary destination of {label} already sets a Set-Cookie header ({where}, written by the user); "
        "meshroll will not overwrite it or add a second one: remove it, or drop "
        "spec.strategy.canary.sessionAffinity"
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
    canary: Obj | None, sticky: StickySession | None, ownership: Ownership, field: str, label: str
) -> None:
    """Put the plan's Set-Cookie on the canary destination (or take meshroll's away when it has none)."""
    if field in ownership.fields:
        if canary is not None:
            _drop_istio(canary)
        remove_field(ownership, field)
    if sticky is None:
        return
    if canary is None:
        raise MeshError(f"{label} has no canary destination to set the session cookie on")  # weights > 0 add one
    response = canary.get("headers", {}).get("response", {}) if isinstance(canary.get("headers"), dict) else {}
    for op in ("add", "set"):
        values = response.get(op) if isinstance(response, dict) else None
        if isinstance(values, dict) and any(_is_set_cookie(k) for k in values):
            raise _refuse(label, f"headers.response.{op}")
    headers = canary.setdefault("headers", {})
    headers.setdefault("response", {}).setdefault("add", {})[SET_COOKIE] = sticky.set_cookie
    add_field(ownership, field)


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
    canary: Obj | None, sticky: StickySession | None, ownership: Ownership, field: str, label: str
) -> None:
    """Put the plan's Set-Cookie on the canary backendRef (or take meshroll's away when it has none)."""
    if field in ownership.fields:
        if canary is not None:
            _drop_gateway(canary)
        remove_field(ownership, field)
    if sticky is None:
        return
    if canary is None:
        raise MeshError(f"{label} has no canary backendRef to set the session cookie on")  # weights > 0 add one
    item = _modifier(canary)
    modifier = item.get("responseHeaderModifier") if item is not None else None
    for op in ("add", "set"):
        values = modifier.get(op) if isinstance(modifier, dict) else None
        if isinstance(values, list) and any(isinstance(h, dict) and _is_set_cookie(h.get("name")) for h in values):
            raise _refuse(label, f"a ResponseHeaderModifier filter's {op}")
    header = {"name": SET_COOKIE, "value": sticky.set_cookie}
    if isinstance(modifier, dict):
        modifier["add"] = [*(modifier.get("add") or []), header]
    else:
        filters = canary.setdefault("filters", [])
        filters.append({"type": RESPONSE_MODIFIER, "responseHeaderModifier": {"add": [header]}})
    add_field(ownership, field)
