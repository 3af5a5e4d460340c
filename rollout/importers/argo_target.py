"""An Argo canary Rollout's Services and traffic router as meshroll's ``spec.target`` and ``spec.mesh``.

meshroll's built-in Istio metrics select ``destination_service_name`` ``{{service}}`` (``spec.target.service``),
and on Istio the run routes subsets of one host (``spec.mesh.host``, by default that same Service), so
``spec.target.service`` must be that host: the ``stableService`` with host-level routing, the host of the
VirtualService's route with subset-level routing (a DestinationRule). On SMI it is the TrafficSplit's root
(``rootService``, else the ``stableService``, as Argo does); on Gateway API each arm has its own Service,
which the built-in metrics select too (``{{backend}}``: ``spec.target.stable.service``, ``canary.service``).
"""

from __future__ import annotations

from typing import Any

from rollout.importers.common import metrics_select, workloads
from rollout.importers.documents import DocPath, Library, PeerDocument, show_value
from rollout.importers.draft import Draft

CANARY: tuple[str, str, str] = ("spec", "strategy", "canary")


def target_and_mesh(draft: Draft, document: PeerDocument, library: Library) -> None:
    stable_service = str(document.get(*CANARY, "stableService") or "")
    canary_service = str(document.get(*CANARY, "canaryService") or "")
    stable: dict[str, Any] = {"version": "stable"}
    canary: dict[str, Any] = {"version": "canary"}
    draft.target = {"service": draft.name}
    routing = (*CANARY, "trafficRouting")
    istio = document.peek(*routing, "istio")
    smi = document.peek(*routing, "smi")
    plugins = document.peek(*routing, "plugins", default={}) or {}
    gateway = plugins.get("argoproj-labs/gatewayAPI") if isinstance(plugins, dict) else None
    if document.get(*routing, "managedRoutes") is not None:
        draft.choose("trafficRouting.managedRoutes: meshroll names and removes its own route entries")
    how: str | None = None  # why spec.target.service is what it is (None: nothing in the input says)
    if isinstance(istio, dict):
        how = _istio(draft, document, library, stable, canary, stable_service, canary_service)
    elif isinstance(smi, dict):
        split = str(document.get(*routing, "smi", "trafficSplitName", default=None) or draft.name)
        root = document.get(*routing, "smi", "rootService")
        if isinstance(root, str) and root:
            draft.target["service"], how = root, "the SMI rootService the TrafficSplit splits"
        elif stable_service:
            draft.target["service"] = stable_service
            how = "the stableService, the TrafficSplit's root when the Rollout names no rootService (as in Argo)"
        if not smi:  # smi: {} (Argo's defaults) has nothing more to translate
            document.get(*routing, "smi")
        draft.mesh = {"provider": "smi", "trafficSplit": split}
        draft.mesh_family = "linkerd"
        draft.choose(f"spec.mesh: SMI TrafficSplit {split}; metrics on Linkerd's templates")
    elif isinstance(gateway, dict):
        _gateway_plugin(draft, document, (*routing, "plugins", "argoproj-labs/gatewayAPI"))
    else:
        given = document.peek(*routing)
        routers = [str(k) for k in given if k != "managedRoutes"] if isinstance(given, dict) else []
        what = (
            f"traffic router {', '.join(routers) or show_value(given)}"
            if given is not None
            else "no trafficRouting (replica ratio)"
        )
        draft.skip(
            document,
            routing,
            f"{what}: meshroll routes with istio, gateway-api or smi; imported for istio with VirtualService "
            f"{draft.name}: change spec.mesh to your router",
        )
        draft.mesh = {"provider": "istio", "virtualService": draft.name}
        if stable_service:
            draft.target["service"] = stable_service
            how = "the stableService"
    if how is None and not stable_service:
        how = _service_selecting_the_pods(draft, document, library)
    if how is None and draft.mesh["provider"] == "gateway-api":
        how = "the Rollout's name: on Gateway API the arms' own Services carry their traffic, not this one"
    if draft.mesh["provider"] in ("gateway-api", "smi"):
        stable["service"] = stable_service or f"{draft.name}-stable"
        canary["service"] = canary_service or f"{draft.name}-canary"
    _service_port(library, canary_service, document.namespace)
    port = _service_port(library, str(draft.target["service"]), document.namespace)
    port = _service_port(library, stable_service, document.namespace) if port is None else port
    if port is not None:
        draft.target["port"] = port
    draft.target |= {"stable": stable, "canary": canary}
    service = draft.target["service"]
    draft.choose(
        f"spec.target.service {service}: "
        + (how or "the Rollout's name, a guess: nothing in the files given names the host its traffic goes to")
        + f"; {metrics_select(draft)}"
    )
    draft.choose(
        f"spec.target: the Rollout's stable and canary ReplicaSets are versions 'stable' and 'canary': deploy both "
        f"({workloads(draft)})"
    )


def _istio(
    draft: Draft,
    document: PeerDocument,
    library: Library,
    stable: dict[str, Any],
    canary: dict[str, Any],
    stable_service: str,
    canary_service: str,
) -> str | None:
    """spec.mesh for Argo's Istio routing; how spec.target.service was found (None: not found)."""
    path = (*CANARY, "trafficRouting", "istio")
    services = document.get(*path, "virtualServices")
    single = document.get(*path, "virtualService")
    listed = [s for s in services if isinstance(s, dict)] if isinstance(services, list) else []
    chosen = single if isinstance(single, dict) else (listed[0] if listed else {})
    if len(listed) > 1:
        others = ", ".join(str(s.get("name", "?")) for s in listed[1:])
        draft.skip(
            document,
            (*path, "virtualServices"),
            f"meshroll weights one VirtualService; the first was kept, not {others}: write one Experiment per "
            "VirtualService, or route the others through the first",
        )
    vs_name = str(chosen.get("name", draft.name))
    listed_routes = chosen.get("routes")
    routes = [str(r) for r in listed_routes if isinstance(r, str)] if isinstance(listed_routes, list) else []
    draft.mesh = {"provider": "istio", "virtualService": vs_name}
    if routes:
        draft.mesh["route"] = str(routes[0])
        if len(routes) > 1:
            draft.choose(f"spec.mesh.route: meshroll weights one route; '{routes[0]}' of {', '.join(routes)}")
    virtual_service = library.find(("VirtualService",), vs_name, document.namespace)
    if virtual_service is not None:
        virtual_service.used.add(("spec",))
        draft.choose(f"spec.mesh: VirtualService {vs_name} read from {virtual_service.file}")
    rule = document.get(*path, "destinationRule")
    if isinstance(rule, dict):
        draft.mesh["destinationRule"] = rule.get("name")
        stable["subset"] = rule.get("stableSubsetName", "stable")
        canary["subset"] = rule.get("canarySubsetName", "canary")
        draft.choose(f"spec.mesh: VirtualService {vs_name} with DestinationRule {rule.get('name')}'s subsets")
        host = _route_host(virtual_service, routes[0] if routes else None, str(stable["subset"]))
        if host is None:
            return None
        draft.target["service"] = host.split(".")[0]
        if host != draft.target["service"]:
            draft.mesh["host"] = host
        return f"the host of VirtualService {vs_name}'s route to the subsets {stable['subset']} and {canary['subset']}"
    draft.skip(
        document,
        (*path, "virtualService" if isinstance(single, dict) else "virtualServices"),
        f"Argo splits VirtualService {vs_name} between the hosts of stableService and canaryService; meshroll "
        f"weights subsets of one host: add a DestinationRule for host {stable_service or draft.name} with "
        "subsets stable and canary, route to its subset stable, and let that Service select the pods of both "
        "versions",
    )
    if not stable_service:
        return None
    draft.target["service"] = stable_service
    return "the stableService" + (f" (the canaryService {canary_service} is not used)" if canary_service else "")


def _route_host(virtual_service: PeerDocument | None, route: str | None, subset: str) -> str | None:
    """The host of the VirtualService route's destination with ``subset`` (else its first destination)."""
    http = virtual_service.peek("spec", "http", default=[]) if virtual_service is not None else []
    entries = [r for r in http if isinstance(r, dict)] if isinstance(http, list) else []
    chosen = next((r for r in entries if r.get("name") == route), None) if route else next(iter(entries), None)
    targets = chosen.get("route") if chosen is not None else None
    destinations = [t.get("destination") for t in targets if isinstance(t, dict)] if isinstance(targets, list) else []
    hosts = [(str(d["host"]), d.get("subset")) for d in destinations if isinstance(d, dict) and d.get("host")]
    ordered = [h for h, s in hosts if s == subset] + [h for h, _ in hosts]
    return ordered[0] if ordered else None


def _gateway_plugin(draft: Draft, document: PeerDocument, path: DocPath) -> None:
    """The Gateway API plugin's HTTPRoute (``httpRoute``, or the first of ``httpRoutes``)."""
    single = document.get(*path, "httpRoute")
    listed = document.peek(*path, "httpRoutes")
    names: list[str] = []
    for i, entry in enumerate(listed if isinstance(listed, list) else []):
        if isinstance(entry, dict) and entry.get("name"):
            names.append(str(document.get(*path, "httpRoutes", i, "name")))
    route = str(single) if isinstance(single, str) and single else (names[0] if names else draft.name)
    if names:
        others = ", ".join(n for n in names if n != route)
        if others:
            draft.skip(
                document,
                (*path, "httpRoutes"),
                f"HTTPRoutes {others}: meshroll weights one HTTPRoute ({route}); write one Experiment per route",
            )
    elif not single:
        draft.choose(f"spec.mesh.httpRoute {route}: the plugin config names no httpRoute; the Rollout's name used")
    draft.mesh = {"provider": "gateway-api", "httpRoute": route}
    namespace = document.get(*path, "namespace")
    if namespace is not None and str(namespace) != (document.namespace or "default"):
        draft.skip(
            document,
            (*path, "namespace"),
            f"'{namespace}': meshroll weights an HTTPRoute in the Experiment's own namespace "
            f"({document.namespace or 'default'}); apply the Experiment in {namespace} or move the route",
        )
    draft.choose(f"spec.mesh: the Gateway API plugin's HTTPRoute {route}")


def _service_selecting_the_pods(draft: Draft, document: PeerDocument, library: Library) -> str | None:
    """Without a stableService, the one Service of the input that selects the Rollout's pods is its service
    (the Rollout's own name is a guess that names no Service)."""
    labels = document.peek("spec", "template", "metadata", "labels", default={}) or {}
    if not isinstance(labels, dict) or not labels:
        return None
    matching = [
        service
        for service in library.of_kind("Service")
        if service.namespace in (None, document.namespace)
        and isinstance(selector := service.peek("spec", "selector", default=None), dict)
        and selector
        and all(labels.get(key) == value for key, value in selector.items())
    ]
    if len(matching) != 1:
        return None
    (service,) = matching
    service.used.add(("spec",))
    draft.target["service"] = service.name
    return "the Service in the input that selects the Rollout's pods"


def _service_port(library: Library, name: str, namespace: str | None) -> int | None:
    service = library.find(("Service",), name, namespace) if name else None
    if service is None:
        return None
    service.used.add(("spec",))
    ports = service.peek("spec", "ports", 0, "port")
    return ports if isinstance(ports, int) and not isinstance(ports, bool) else None
