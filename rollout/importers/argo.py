"""Argo Rollouts (``argoproj.io/v1alpha1``): a canary ``Rollout``, its analysis templates, VirtualService, Services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollout.importers.argo_analysis import settle_failure_threshold, translate_analysis
from rollout.importers.argo_routes import header_match, steady_header_route
from rollout.importers.common import Hint, duration, note_leftovers, required, set_deadline, workloads
from rollout.importers.documents import DocPath, Library, PeerDocument
from rollout.importers.draft import Draft
from rollout.importers.errors import ImporterError
from rollout.importers.metrics import ensure_arm_comparison
from rollout.spec.durations import format_duration

CANARY: tuple[str, str, str] = ("spec", "strategy", "canary")
DEFAULT_INTERVAL = 60.0
DEFAULT_WEIGHT = 10
NOTIFY_PREFIX = "notifications.argoproj.io/subscribe."
WORKLOAD = "meshroll does not deploy pods; deploy stable and canary as two Deployments, as the note on spec.target says"
SCALING = "meshroll does not scale workloads; remove the old version's Deployment after promotion yourself"
HINTS: list[Hint] = [
    (("spec", "template"), WORKLOAD),
    (("spec", "workloadRef"), WORKLOAD),
    (("spec", "selector"), WORKLOAD),
    (("spec", "replicas"), WORKLOAD),
    (("spec", "revisionHistoryLimit"), WORKLOAD),
    (("spec", "minReadySeconds"), WORKLOAD),
    (("spec", "progressDeadlineSeconds"), "meshroll does not watch ReplicaSets; analysis.maxDuration bounds the run"),
    (("spec", "progressDeadlineAbort"), "meshroll does not watch ReplicaSets; analysis.maxDuration bounds the run"),
    (("spec", "paused"), "pause by not applying the Experiment"),
    ((*CANARY, "analysis", "startingStep"), "meshroll judges from the first step; start with a small weight instead"),
    ((*CANARY, "scaleDownDelaySeconds"), SCALING),
    ((*CANARY, "scaleDownDelayRevisionLimit"), SCALING),
    ((*CANARY, "abortScaleDownDelaySeconds"), SCALING),
    ((*CANARY, "maxSurge"), SCALING),
    ((*CANARY, "maxUnavailable"), SCALING),
    ((*CANARY, "dynamicStableScale"), SCALING),
    ((*CANARY, "minPodsPerReplicaSet"), SCALING),
    ((*CANARY, "antiAffinity"), WORKLOAD),
    ((*CANARY, "canaryMetadata"), WORKLOAD),
    ((*CANARY, "stableMetadata"), WORKLOAD),
    ((*CANARY, "pingPong"), "meshroll has no ping-pong Services; name each version's Service in spec.target"),
    ((*CANARY, "steps", "*", "setCanaryScale"), "meshroll does not scale pods; size the canary Deployment yourself"),
    ((*CANARY, "steps", "*", "plugin"), "meshroll has no step plugins"),
    (("metadata", "annotations"), "meshroll does not read the Rollout's annotations; drop it"),
]


@dataclass
class _Steps:
    weights: list[int] = field(default_factory=list)
    pauses: list[float] = field(default_factory=list)
    cohorts: list[dict[str, Any]] = field(default_factory=list)
    routes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # setHeaderRoute step -> its matches
    mirror: float | None = None
    experiment: float | None = None
    experiment_weight: int | None = None
    first_weight_path: DocPath | None = None


def is_rollout(document: PeerDocument) -> bool:
    return document.kind == "Rollout" and document.api_version.startswith("argoproj.io/")


def translate_rollout(document: PeerDocument, library: Library, engine: str) -> Draft:
    name = required(document, ("metadata", "name"), "give the Rollout a metadata.name")
    document.get("metadata", "name")
    if document.peek(*CANARY) is None:
        if document.peek("spec", "strategy", "blueGreen") is not None:
            raise ImporterError(
                f"{document.where(('spec', 'strategy', 'blueGreen'))}: blue/green is not translated: meshroll moves "
                "traffic in steps; rewrite the Rollout with strategy.canary or write the Experiment by hand"
            )
        required(document, CANARY, "meshroll imports canary Rollouts: give spec.strategy.canary")
    draft = Draft(document, "Argo Rollouts Rollout", engine, str(name), document.namespace)
    document.get("metadata", "namespace")
    labels = document.get("metadata", "labels", default={})
    draft.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    _target_and_mesh(draft, document, library)
    taken: set[str] = set()
    steps = _read_steps(draft, document, library, taken)
    _strategy(draft, document, steps)
    if document.peek(*CANARY, "analysis") is not None:
        translate_analysis(draft, document, (*CANARY, "analysis"), library, taken)
        draft.choose("background analysis: its metrics are judged after every step")
    settle_failure_threshold(draft)
    ensure_arm_comparison(draft, taken)
    _notifications(draft, document)
    note_leftovers(draft, document, HINTS, [("spec",), ("metadata",)])
    return draft


def _target_and_mesh(draft: Draft, document: PeerDocument, library: Library) -> None:
    stable_service = document.get(*CANARY, "stableService")
    canary_service = document.get(*CANARY, "canaryService")
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
    if isinstance(istio, dict):
        _istio(draft, document, library, stable, canary, str(stable_service or ""))
    elif isinstance(smi, dict):
        split = str(document.get(*routing, "smi", "trafficSplitName", default=None) or draft.name)
        root = document.get(*routing, "smi", "rootService")
        if isinstance(root, str) and root:
            draft.target["service"] = root
            draft.choose(f"spec.target.service {root}: the SMI rootService the TrafficSplit splits")
        draft.mesh = {"provider": "smi", "trafficSplit": split}
        draft.mesh_family = "linkerd"
        draft.choose(f"spec.mesh: SMI TrafficSplit {split}; metrics on Linkerd's templates")
    elif isinstance(gateway, dict):
        _gateway_plugin(draft, document, (*routing, "plugins", "argoproj-labs/gatewayAPI"))
    else:
        what = "this traffic router" if document.peek(*routing) is not None else "no trafficRouting (replica ratio)"
        draft.skip(
            document,
            routing,
            f"{what}: meshroll routes with istio, gateway-api or smi; imported for istio with VirtualService "
            f"{draft.name}: change spec.mesh to your router",
        )
        draft.mesh = {"provider": "istio", "virtualService": draft.name}
    if not stable_service and draft.target["service"] == draft.name:
        _service_selecting_the_pods(draft, document, library)
    if draft.mesh["provider"] in ("gateway-api", "smi"):
        stable["service"] = stable_service or f"{draft.name}-stable"
        canary["service"] = canary_service or f"{draft.name}-canary"
    _service_port(library, str(canary_service or ""), document.namespace)
    port = _service_port(library, str(stable_service or ""), document.namespace)
    if port is not None:
        draft.target["port"] = port
    draft.target |= {"stable": stable, "canary": canary}
    draft.choose(
        f"spec.target: service {draft.target['service']}; the Rollout's stable and canary ReplicaSets are versions "
        f"'stable' and 'canary': deploy both ({workloads(draft)})"
    )


def _istio(
    draft: Draft,
    document: PeerDocument,
    library: Library,
    stable: dict[str, Any],
    canary: dict[str, Any],
    stable_service: str,
) -> None:
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
            draft.choose(f"spec.mesh.route: meshroll weights one route; {routes[0]!r} of {routes}")
    rule = document.get(*path, "destinationRule")
    if isinstance(rule, dict):
        draft.mesh["destinationRule"] = rule.get("name")
        stable["subset"] = rule.get("stableSubsetName", "stable")
        canary["subset"] = rule.get("canarySubsetName", "canary")
        draft.choose(f"spec.mesh: VirtualService {vs_name} with DestinationRule {rule.get('name')}'s subsets")
    else:
        draft.mesh["host"] = stable_service or draft.name
        draft.skip(
            document,
            (*path, "virtualService" if isinstance(single, dict) else "virtualServices"),
            f"Argo splits VirtualService {vs_name} between the hosts of stableService and canaryService; meshroll "
            f"weights subsets of one host: add a DestinationRule for host {stable_service or draft.name} with "
            "subsets stable and canary, and route to its subset stable",
        )
    virtual_service = library.find(("VirtualService",), vs_name, document.namespace)
    if virtual_service is not None:
        virtual_service.used.add(("spec",))
        draft.choose(f"spec.mesh: VirtualService {vs_name} read from {virtual_service.file}")


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
            f"{namespace!r}: meshroll weights an HTTPRoute in the Experiment's own namespace "
            f"({document.namespace or 'default'}); apply the Experiment in {namespace} or move the route",
        )
    draft.choose(f"spec.mesh: the Gateway API plugin's HTTPRoute {route}")


def _service_selecting_the_pods(draft: Draft, document: PeerDocument, library: Library) -> None:
    """Without a stableService, the one Service of the input that selects the Rollout's pods is its service
    (the Rollout's own name is a guess that names no Service)."""
    labels = document.peek("spec", "template", "metadata", "labels", default={}) or {}
    if not isinstance(labels, dict) or not labels:
        return
    matching = [
        service
        for service in library.of_kind("Service")
        if service.namespace in (None, document.namespace)
        and isinstance(selector := service.peek("spec", "selector", default=None), dict)
        and selector
        and all(labels.get(key) == value for key, value in selector.items())
    ]
    if len(matching) != 1:
        return
    (service,) = matching
    service.used.add(("spec",))
    draft.target["service"] = service.name
    draft.choose(f"spec.target.service {service.name}: the Service in the input that selects the Rollout's pods")


def _service_port(library: Library, name: str, namespace: str | None) -> int | None:
    service = library.find(("Service",), name, namespace) if name else None
    if service is None:
        return None
    service.used.add(("spec",))
    ports = service.peek("spec", "ports", 0, "port")
    port = ports if isinstance(ports, int) and not isinstance(ports, bool) else None
    return port


def _read_steps(draft: Draft, document: PeerDocument, library: Library, taken: set[str]) -> _Steps:
    found = _Steps()
    steps = document.peek(*CANARY, "steps", default=[])
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        path = (*CANARY, "steps", i)
        if not isinstance(step, dict) or len(step) != 1:
            continue
        key, body = next(iter(step.items()))
        if key == "setWeight":
            _weight(draft, document, path, body, found)
        elif key == "pause":
            _pause(draft, document, path, body, found)
        elif key == "setHeaderRoute" and isinstance(body, dict):
            found.routes[i] = header_match(draft, document, (*path, key), body.get("match") or [])
            found.cohorts += found.routes[i]
            document.used.add((*path, key))
        elif key == "setMirrorRoute" and isinstance(body, dict):
            percentage = body.get("percentage", 100)
            if not isinstance(percentage, int | float) or isinstance(percentage, bool):
                draft.skip(document, (*path, key, "percentage"), f"{percentage!r} is not a percentage; 100 used")
                percentage = 100
            if body.get("percentage") is not None or body.get("match"):
                found.mirror = percentage
            if body.get("match"):
                document.used.add((*path, key))
                draft.skip(document, (*path, key, "match"), "meshroll mirrors a share of all requests, not a match")
            document.used.add((*path, key))
        elif key == "analysis":
            translate_analysis(draft, document, (*path, key), library, taken)
            draft.choose(f"steps[{i}] analysis: its metrics are judged after every step, not only here")
        elif key == "experiment" and isinstance(body, dict):
            found.experiment = duration(draft, document, (*path, key, "duration"), body.get("duration"), 3600.0, "")
            templates = body.get("templates")
            weights = [t.get("weight") for t in templates if isinstance(t, dict)] if isinstance(templates, list) else []
            found.experiment_weight = next((w for w in weights if isinstance(w, int) and 0 < w < 100), None)
            analyses = body.get("analyses") or []
            for j in range(len(analyses) if isinstance(analyses, list) else 0):
                translate_analysis(draft, document, (*path, key, "analyses", j), library, taken)
            draft.skip(
                document,
                (*path, key, "templates"),
                "an experiment's baseline and canary ReplicaSets: meshroll compares canary with stable directly",
            )
            document.used.add((*path, key))
    return found


def _weight(draft: Draft, document: PeerDocument, path: DocPath, body: Any, found: _Steps) -> None:
    document.used.add((*path, "setWeight"))
    found.first_weight_path = found.first_weight_path or path
    if not isinstance(body, int) or isinstance(body, bool):
        draft.skip(document, (*path, "setWeight"), "not a whole number")
    elif body >= 100:
        draft.choose(f"setWeight {body}: meshroll promotes after the last step")
    elif body > 0 and (not found.weights or body > found.weights[-1]):
        found.weights.append(body)
    else:
        draft.skip(document, (*path, "setWeight"), f"{body}: meshroll's steps only increase")


def _pause(draft: Draft, document: PeerDocument, path: DocPath, body: Any, found: _Steps) -> None:
    value = body.get("duration") if isinstance(body, dict) else None
    if value is None:
        draft.skip(
            document,
            (*path, "pause"),
            "an indefinite pause (manual promote): meshroll has no manual gate; it advances on evidence",
        )
        return
    document.used.add((*path, "pause"))
    found.pauses.append(duration(draft, document, (*path, "pause", "duration"), value, DEFAULT_INTERVAL, "pause"))


def _strategy(draft: Draft, document: PeerDocument, found: _Steps) -> None:
    pauses = sorted(set(found.pauses))
    interval = pauses[-1] if pauses else found.experiment or DEFAULT_INTERVAL
    if len(pauses) > 1:
        draft.choose(
            f"stepInterval {format_duration(interval)}: the pauses differ ({', '.join(map(format_duration, pauses))}); "
            "the longest, so no step is shorter than in Argo"
        )
    elif not pauses:
        draft.choose(f"stepInterval {format_duration(interval)}: no timed pause to take it from")
    shown = format_duration(interval)
    timed = sum(found.pauses) or found.experiment or 10 * DEFAULT_INTERVAL
    strategy: dict[str, Any] = {}
    steps = document.peek(*CANARY, "steps", default=[])
    cohort_step = steady_header_route(steps) if found.cohorts and found.weights else None
    if cohort_step is not None and found.routes.get(cohort_step):
        cohort = {"match": found.routes[cohort_step]}
        strategy["canary"] = {"steps": found.weights, "stepInterval": shown, "cohort": cohort}
        planned = len(found.weights) * interval
        draft.choose(
            f"strategy.canary.cohort: steps[{cohort_step}].setHeaderRoute's match, on across the weighted steps "
            "(the matching requests go to the canary, the others follow the weights)"
        )
    elif found.cohorts:
        strategy["abTest"] = {"match": found.cohorts, "duration": format_duration(timed), "stepInterval": shown}
        planned = timed
        draft.choose("strategy.abTest: the setHeaderRoute matches, for the Rollout's timed pauses")
        if found.weights and found.first_weight_path is not None:
            draft.skip(
                document,
                (*found.first_weight_path, "setWeight"),
                f"weights {found.weights}: the header routes change between the weighted steps (or come before "
                "them), which strategy.canary.cohort cannot follow; write a canary Experiment for them after the A/B "
                "test",
            )
    elif found.weights or found.mirror is None:
        weights = found.weights or [found.experiment_weight or DEFAULT_WEIGHT]
        if not found.weights:
            draft.choose(f"strategy.canary.steps {weights}: the Rollout sets no weight; one step for {shown}")
        strategy["canary"] = {"steps": weights, "stepInterval": shown}
        planned = len(weights) * interval
    else:
        planned = timed
    if found.mirror is not None:
        strategy["mirror"] = {"percent": found.mirror}
        if not strategy.keys() - {"mirror"}:
            strategy["mirror"] |= {"duration": format_duration(timed), "stepInterval": shown}
        draft.choose(f"strategy.mirror: setMirrorRoute's {found.mirror:g}%")
    draft.strategy = strategy
    set_deadline(draft, planned)


def _notifications(draft: Draft, document: PeerDocument) -> None:
    annotations = document.peek("metadata", "annotations", default={})
    if not isinstance(annotations, dict):
        return
    triggers: list[str] = []
    for key in sorted(annotations):
        value = annotations[key]
        if not str(key).startswith(NOTIFY_PREFIX):
            continue
        trigger, _, service = str(key).removeprefix(NOTIFY_PREFIX).rpartition(".")
        path = ("metadata", "annotations", str(key))
        channels = list(dict.fromkeys(c.strip() for c in str(value).split(";") if c.strip()))
        if service != "slack" or not channels:
            why = f"{service} notifications" if service != "slack" else "no channel"
            draft.skip(document, path, f"{why}: meshroll posts to one Slack channel and spec.notify.webhooks")
            continue
        kept = str(draft.notify["slack"]["channel"]) if "slack" in draft.notify else channels[0]
        draft.notify["slack"] = {"channel": kept}
        dropped = [c for c in channels if c != kept]
        if kept in channels:
            triggers.append(trigger)
            document.used.add(path)
        if dropped:
            draft.skip(
                document,
                path,
                f"channel {', '.join(dropped)}: meshroll posts every event to one Slack channel ({kept}); use "
                "spec.notify.webhooks for other receivers",
            )
    if triggers:
        draft.choose(
            f"spec.notify.slack: the Slack subscriptions ({', '.join(triggers)}); meshroll posts every event, "
            "threaded per run"
        )
