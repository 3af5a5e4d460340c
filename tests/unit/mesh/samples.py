"""Objects, settings and plans the mesh tests share, and the check that only owned fields changed."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import yaml

from chaos.faults import Abort, Arm, Delay, Fault
from chaos.matching import MatchKind, RequestMatch, StringMatch, cookie_match
from rollout.mesh.render_common import is_meshroll_name
from rollout.mesh.render_gateway_api import GatewayApiSettings
from rollout.mesh.render_istio import IstioSettings

Obj = dict[str, Any]
OWNER = "shop/checkout-v2"

RICH_VIRTUAL_SERVICE: Obj = yaml.safe_load(
    """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout
  namespace: shop
  labels: {app: checkout, team: payments}
  annotations: {argocd.argoproj.io/tracking-id: "shop:networking.istio.io/VirtualService:shop/checkout"}
spec:
  hosts: [checkout, checkout.shop.svc.cluster.local]
  gateways: [mesh, shop/edge]
  http:
  - name: admin
    match:
    - uri: {prefix: /admin}
    route:
    - destination: {host: checkout-admin, port: {number: 8080}}
    timeout: 2s
  - name: legacy
    match:
    - uri: {exact: /old-cart}
    redirect: {uri: /cart, redirectCode: 301}
  - name: primary
    match:
    - uri: {prefix: /api}
      headers: {x-region: {exact: eu}}
    - uri: {prefix: /v2/api}
    route:
    - destination: {host: checkout, subset: v1, port: {number: 8080}}
      weight: 100
      headers:
        request:
          set: {x-version: v1}
    - destination: {host: checkout-legacy, port: {number: 8080}}
      weight: 0
    timeout: 5s
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: "5xx,connect-failure,refused-stream"}
    headers:
      response:
        add: {x-served-by: checkout}
    corsPolicy:
      allowOrigins: [{exact: "https://shop.example"}]
      allowMethods: [GET, POST]
    rewrite: {uriRegexRewrite: {match: "^/v2/api", rewrite: /api}}
  - name: catch-all
    route:
    - destination: {host: checkout.shop.svc.cluster.local, subset: v1}
    retries: {attempts: 1, retryOn: gateway-error}
    timeout: 10s
"""
)

RICH_ROUTE: Obj = yaml.safe_load(
    """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: checkout, namespace: shop, labels: {app: checkout}}
spec:
  parentRefs:
  - {group: "", kind: Service, name: checkout, port: 8080}
  rules:
  - name: admin
    matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: checkout-admin, port: 8080}]
  - name: primary
    matches:
    - path: {type: PathPrefix, value: /api}
      headers: [{name: x-region, value: eu}]
    - path: {type: PathPrefix, value: /v2/api}
      method: GET
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-mesh, value: gamma}]}
    - type: URLRewrite
      urlRewrite: {path: {type: ReplaceFullPath, replaceFullPath: /api}}
    backendRefs:
    - {name: checkout-v1, port: 8080, weight: 100}
    - {name: checkout-legacy, port: 8080, weight: 0}
    timeouts: {request: 10s, backendRequest: 4s}
  - name: rest
    backendRefs: [{name: checkout-v1, port: 8080}]
"""
)
V1ALPHA4: Obj = {
    "apiVersion": "split.smi-spec.io/v1alpha4",
    "kind": "TrafficSplit",
    "metadata": {"name": "podinfo", "namespace": "test", "labels": {"app": "podinfo"}},
    "spec": {
        "service": "podinfo",
        "backends": [{"service": "podinfo-primary", "weight": 100}, {"service": "podinfo-legacy", "weight": 0}],
        "matches": [{"kind": "HTTPRouteGroup", "name": "podinfo-routes"}],
    },
}
RICH_SETTINGS = IstioSettings(
    owner=OWNER,
    namespace="shop",
    virtual_service="checkout",
    host="checkout",
    stable_subset="v1",
    canary_subset="v2",
    route="primary",
)

BETA = RequestMatch(headers=(("X-Beta", StringMatch(MatchKind.EXACT, "yes")),))
COOKIE = RequestMatch(headers=(cookie_match("tester", "ann"),))
QUERY = RequestMatch(query=(("variant", StringMatch(MatchKind.PREFIX, "b")),))


def fault(
    index: int,
    arm: Arm = Arm.BOTH,
    *,
    delay_ms: float | None = None,
    abort: int | str | None = None,
    percent: float = 10.0,
    cohort: tuple[RequestMatch, ...] = (),
    owner: str = OWNER,
) -> Fault:
    if isinstance(abort, int):
        aborting: Abort | None = Abort(percent, http_status=abort)
    else:
        aborting = Abort(percent, grpc_status=abort) if abort is not None else None
    return Fault(
        id=f"{owner}#{index}",
        owner=owner,
        arm=arm,
        delay=Delay(delay_ms, percent) if delay_ms is not None else None,
        abort=aborting,
        cohort=cohort,
    )


def gateway_settings(route: Mapping[str, Any], stable: str, canary: str, rule: str | None = None) -> GatewayApiSettings:
    return GatewayApiSettings(
        owner=OWNER,
        namespace=str(route["metadata"].get("namespace", "default")),
        http_route=str(route["metadata"]["name"]),
        stable_service=stable,
        canary_service=canary,
        rule=rule,
    )


# --- the owned-fields check ---------------------------------------------------------------------


def _metadata_without_marks(obj: Mapping[str, Any]) -> Obj:
    metadata = copy.deepcopy(dict(obj.get("metadata", {})))
    annotations = {k: v for k, v in metadata.pop("annotations", {}).items() if not k.startswith("meshroll.io/")}
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def _arm_identity(item: Mapping[str, Any]) -> str:
    if "destination" in item:
        return str(item["destination"].get("subset"))
    return str(item.get("name"))


def unowned_view(
    obj: Mapping[str, Any],
    *,
    managed: int,
    weighted: AbstractSet[str],
    created: AbstractSet[str] = frozenset(),
    mesh_keys: AbstractSet[str] = frozenset(),
) -> Obj:
    """Everything meshroll does not own, to compare before and after rendering.

    Drops meshroll's annotations and the entries it adds; in the managed entry (``managed``: its
    index among the user's entries) drops ``mesh_keys`` (fields meshroll owns there), the weights
    of the ``weighted`` destinations (by subset or Service name) and the ``created`` ones entirely.
    """
    view = copy.deepcopy(dict(obj))
    view["metadata"] = _metadata_without_marks(obj)
    entries_key, list_key = ("http", "route") if "http" in obj["spec"] else ("rules", "backendRefs")
    entries = [copy.deepcopy(e) for e in obj["spec"][entries_key] if not is_meshroll_name(e.get("name"))]
    entry = entries[managed]
    for key in mesh_keys:
        entry.pop(key, None)
    items = []
    for item in entry.get(list_key, []):
        identity = _arm_identity(item)
        if identity in created:
            continue
        if identity in weighted:
            item.pop("weight", None)
        items.append(item)
    entry[list_key] = items
    view["spec"][entries_key] = entries
    return view


def our_destinations(route: Mapping[str, Any], key: str = "route") -> dict[str, Obj]:
    return {_arm_identity(d): d for d in route.get(key, [])}


def named(entries: list[Obj], name: str) -> Obj:
    return next(e for e in entries if e.get("name") == name)


def names(entries: list[Obj]) -> list[str | None]:
    return [e.get("name") for e in entries]
