"""Flagger (``flagger.app/v1beta1``): a ``Canary`` with its ``MetricTemplate`` and ``AlertProvider`` documents."""

from __future__ import annotations

from typing import Any

from rollout.importers.common import (
    Hint,
    failed_checks,
    matched_defaults,
    metrics_select,
    note_leftovers,
    note_namespace,
    required,
    workloads,
)
from rollout.importers.documents import DocPath, Library, PeerDocument, show_value
from rollout.importers.draft import Draft
from rollout.importers.errors import ImporterError
from rollout.importers.flagger_affinity import session_affinity
from rollout.importers.flagger_alerts import alerts, suspended, webhooks
from rollout.importers.flagger_schedule import schedule
from rollout.importers.flagger_templates import inline_query, metric_template
from rollout.importers.metrics import (
    ensure_arm_comparison,
    error_rate_metric,
    latency_metric,
    metric_name,
)

API_VERSION = "flagger.app/v1beta1"
ROUTE_FIELDS = "Flagger wrote it into the route it generated; meshroll only weights routes you own: keep it there"
SERVICE_FIELDS = (
    "Flagger wrote it into the Services it generated (the apex, -primary and -canary); meshroll creates no "
    "Services: set it on yours"
)

HINTS: list[Hint] = [
    (("spec", "service"), ROUTE_FIELDS),
    (
        ("spec", "service", "trafficPolicy"),
        "Flagger wrote it into the DestinationRules it generated (-primary and -canary); meshroll writes no "
        "DestinationRule: put it in yours, the one with the subsets primary and canary",
    ),
    *((("spec", "service", field), SERVICE_FIELDS) for field in ("targetPort", "portName", "portDiscovery")),
    *((("spec", "service", field), SERVICE_FIELDS) for field in ("appProtocol", "apex", "primary", "canary")),
    (("spec", "progressDeadlineSeconds"), "meshroll does not watch Deployments; analysis.maxDuration bounds the run"),
    (("spec", "autoscalerRef"), "meshroll does not scale workloads; give each version's Deployment its own HPA"),
    (("spec", "skipAnalysis"), "meshroll always judges; to release without analysis, deploy without an Experiment"),
    (("spec", "revertOnDeletion"), "deleting an Experiment always routes all traffic back to stable"),
    (("spec", "analysis", "stepWeightPromotion"), "meshroll promotes in one move after the last step"),
    (("spec", "analysis", "primaryReadyThreshold"), "meshroll does not watch pod readiness"),
    (("spec", "analysis", "canaryReadyThreshold"), "meshroll does not watch pod readiness"),
    (("spec", "analysis", "metrics", "*", "interval"), "meshroll measures each metric over the whole step"),
    (
        ("spec", "analysis", "metrics", "*", "templateVariables"),
        "only a templateRef's query reads variables; a built-in metric has none",
    ),
]
# Flagger's defaults where meshroll behaves the same: nothing is lost, so no note
MATCHED_DEFAULTS: list[tuple[DocPath, Any]] = [(("spec", "skipAnalysis"), False), (("spec", "suspend"), False)]


def is_canary(document: PeerDocument) -> bool:
    return document.kind == "Canary" and document.api_version.startswith("flagger.app/")


def translate_canary(document: PeerDocument, library: Library, engine: str) -> Draft:
    name = required(document, ("metadata", "name"), "give the Canary a metadata.name")
    document.get("metadata", "name")
    required(document, ("spec", "targetRef", "name"), "the Canary names the Deployment it releases; add it")
    document.get("spec", "targetRef")  # the whole reference is read: kind and apiVersion say what it names
    target_name = str(document.get("spec", "targetRef", "name"))
    if document.peek("spec", "analysis") is None and document.peek("spec", "canaryAnalysis") is not None:
        raise ImporterError(
            f"{document.where(('spec', 'canaryAnalysis'))}: Flagger's old name (flagger.app/v1alpha3): rename it to "
            f"spec.analysis, as {API_VERSION} names it, and import again"
        )
    analysis = required(document, ("spec", "analysis"), "a Canary needs spec.analysis (interval, weights, metrics)")
    if not isinstance(analysis, dict):
        raise ImporterError(f"{document.where(('spec', 'analysis'))}: expected a mapping of analysis fields")
    draft = Draft(document, "Flagger Canary", engine, str(name), document.namespace)
    document.get("metadata", "namespace")
    if document.api_version != API_VERSION:
        draft.skip(
            document,
            ("apiVersion",),
            f"{document.api_version}: meshroll import knows {API_VERSION} and read the Canary as that version: "
            "check that each field means what it does there",
        )
    note_namespace(draft, "Canary")
    labels = document.get("metadata", "labels", default={})
    draft.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    service = str(document.get("spec", "service", "name", default=None) or target_name)
    document.get("spec", "service", "port")
    _target_and_mesh(draft, document, service)
    taken: set[str] = set()
    schedule(draft, document)
    session_affinity(draft, document)
    _threshold(draft, document)
    _metrics(draft, document, library, taken)
    ensure_arm_comparison(draft, taken)
    alerts(draft, document, library)
    webhooks(draft, document)
    suspended(draft, document)
    matched_defaults(document, MATCHED_DEFAULTS)
    note_leftovers(draft, document, HINTS, [("spec",), ("metadata",)])
    return draft


def _target_and_mesh(draft: Draft, document: PeerDocument, service: str) -> None:
    provider = document.get("spec", "provider")
    if provider is None:
        provider = "gatewayapi" if document.peek("spec", "service", "gatewayRefs") else "istio"
        draft.choose(
            f"spec.mesh: the Canary names no provider (Flagger used its -mesh-provider flag); {provider} assumed "
            + ("from service.gatewayRefs" if provider == "gatewayapi" else "(Flagger's default)")
        )
    kind = str(provider).split(":")[0]
    target: dict[str, Any] = {"service": service}
    port = document.get("spec", "service", "port")
    if isinstance(port, int):
        target["port"] = port
    stable: dict[str, Any] = {"version": "primary"}
    canary: dict[str, Any] = {"version": "canary"}
    if kind == "gatewayapi":
        draft.mesh = {"provider": "gateway-api", "httpRoute": service}
        stable["service"], canary["service"] = f"{service}-primary", f"{service}-canary"
        draft.choose(
            f"spec.mesh: the HTTPRoute {service} Flagger generated, weighting the Services {service}-primary and "
            f"{service}-canary; meshroll weights a route you own: keep one with that name and those backends; "
            "metrics on Istio's templates (use linkerd-* ones behind Linkerd)"
        )
    elif kind in ("linkerd", "smi", "osm"):
        draft.mesh = {"provider": "smi", "trafficSplit": service}
        draft.mesh_family = "linkerd"
        stable["service"], canary["service"] = f"{service}-primary", f"{service}-canary"
        draft.choose(f"spec.mesh: provider {provider} as an SMI TrafficSplit {service}; metrics on Linkerd's templates")
    else:
        if kind != "istio":
            draft.skip(
                document,
                ("spec", "provider"),
                f"provider {show_value(provider)}: meshroll routes with istio, gateway-api or smi; imported for istio: "
                "change spec.mesh to the router you use",
            )
        draft.mesh = {"provider": "istio", "virtualService": service}
        draft.choose(
            f"spec.mesh: Flagger generated VirtualService {service} routing to the Services {service}-primary and "
            f"{service}-canary; meshroll weights the subsets primary and canary of host {service} in a "
            "VirtualService you own: keep one with that name, and a DestinationRule with those subsets"
        )
    target["stable"], target["canary"] = stable, canary
    draft.target = target
    draft.choose(
        f"spec.target: Flagger's primary and canary workloads are versions 'primary' and 'canary' of {service}; "
        f"deploy both yourself (meshroll does not clone Deployments): {workloads(draft)}; {metrics_select(draft)}"
    )


def _threshold(draft: Draft, document: PeerDocument) -> None:
    """``analysis.threshold`` (failed checks before Flagger rolls back): the threshold engine's
    ``analysis.failureThreshold``; the sequential engine counts none, which a note says."""
    where = ("spec", "analysis", "threshold")
    count = document.get(*where)
    if count is None:
        return
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        why = "is not a number of failed checks; meshroll's engines do not read it"
        draft.skip(document, where, f"{show_value(count)} {why}")
        return
    if draft.engine != "threshold":
        draft.skip(
            document,
            where,
            f"this Canary rolls back after {failed_checks(count)}; the sequential engine counts no failed checks: it "
            "rolls back on evidence and bounds false rollbacks with analysis.alpha (import with --engine threshold to "
            f"keep this count as analysis.failureThreshold: {count})",
        )
        return
    draft.failure_threshold = count
    draft.choose(
        f"analysis.threshold {count} -> analysis.failureThreshold {count}: the threshold engine rolls back after "
        f"{failed_checks(count)}, counted over the whole run as Flagger counts them"
    )


def _metrics(draft: Draft, document: PeerDocument, library: Library, taken: set[str]) -> None:
    where = ("spec", "analysis", "metrics")
    entries = document.peek(*where, default=[])
    if not isinstance(entries, list):
        draft.skip(document, where, f"{show_value(entries)} is not a list of metrics; write analysis.metrics by hand")
        return
    step = draft.strategy.get("canary", draft.strategy.get("abTest", draft.strategy.get("mirror", {})))
    for i, entry in enumerate(entries):
        path = (*where, i)
        if not isinstance(entry, dict):
            draft.skip(document, path, f"{show_value(entry)} is not a metric; give name and thresholdRange")
            continue
        raw = str(document.get(*path, "name", default=f"metric-{i}"))
        low, high = _legacy_threshold(draft, document, path, raw)
        interval = document.get(*path, "interval")
        if interval is not None and step and str(interval) != step.get("stepInterval"):
            document.used.add((*path, "interval"))
            draft.choose(f"{raw}: Flagger queried it over {interval}; meshroll measures it over each whole step")
        if document.get(*path, "templateRef") is not None:
            document.used.add((*path, "templateVariables"))
            metric = metric_template(draft, document, library, path, raw, low, high, taken)
        elif document.peek(*path, "query") is not None:
            metric = inline_query(draft, document, path, raw, low, high, taken)
        elif raw == "request-success-rate":
            metric = error_rate_metric(draft, metric_name(raw, taken), low, high)
            draft.choose(f"{raw} (non-5xx %) -> template {metric['template']}")
        elif raw == "request-duration":
            metric = latency_metric(draft, metric_name(raw, taken), low, high)
            draft.choose(f"{raw} (P99 ms) -> template {metric['template']}")
        else:
            draft.skip(document, path, f"metric {raw!r} is neither a Flagger builtin nor has a templateRef or query")
            metric = None
        if metric is None:
            draft.lost_metrics.append(f"metric '{raw}'")
        else:
            draft.metrics.append(metric)


def _legacy_threshold(
    draft: Draft, document: PeerDocument, path: tuple[str | int, ...], raw: str
) -> tuple[float | None, float | None]:
    """The metric's accepted range: ``thresholdRange``, else the legacy ``threshold`` as Flagger reads it (the
    least success rate for request-success-rate, the most for every other metric)."""
    low = _bound(draft, document, (*path, "thresholdRange", "min"))
    high = _bound(draft, document, (*path, "thresholdRange", "max"))
    threshold = _bound(draft, document, (*path, "threshold"))
    if threshold is None:
        return low, high
    if document.peek(*path, "thresholdRange") is not None:
        draft.skip(document, (*path, "threshold"), f"{threshold:g}: Flagger ignores it beside thresholdRange")
        return low, high
    bound = "min" if raw == "request-success-rate" else "max"
    draft.choose(f"{raw}: the legacy threshold {threshold:g} -> thresholdRange {bound} {threshold:g}")
    return (threshold, None) if bound == "min" else (None, threshold)


def _bound(draft: Draft, document: PeerDocument, path: tuple[str | int, ...]) -> float | None:
    """A thresholdRange bound, or None with a note when it is not a number."""
    value = document.get(*path)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    draft.skip(document, path, f"{show_value(value)} is not a number; set the bound by hand")
    return None
