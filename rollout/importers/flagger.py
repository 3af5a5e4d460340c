"""Flagger (``flagger.app/v1beta1``): a ``Canary`` with its ``MetricTemplate`` and ``AlertProvider`` documents."""

from __future__ import annotations

import re
from typing import Any, NoReturn

from rollout.importers.common import (
    Hint,
    duration,
    failed_checks,
    matched_defaults,
    metrics_select,
    note_leftovers,
    note_namespace,
    required,
    set_deadline,
    workloads,
)
from rollout.importers.documents import DocPath, Library, PeerDocument, show_value
from rollout.importers.draft import Draft
from rollout.importers.errors import ImporterError
from rollout.importers.flagger_affinity import session_affinity
from rollout.importers.flagger_templates import metric_template
from rollout.importers.metrics import (
    ensure_arm_comparison,
    error_rate_metric,
    latency_metric,
    metric_name,
)
from rollout.spec.durations import format_duration

DEFAULT_INTERVAL = 60.0  # Flagger's analysis.interval default
ROUTE_FIELDS = "Flagger wrote it into the route it generated; meshroll only weights routes you own: keep it there"
SERVICE_FIELDS = (
    "Flagger wrote it into the Services it generated (the apex, -primary and -canary); meshroll creates no "
    "Services: set it on yours"
)

WEBHOOK_HINTS = {
    "confirm-rollout": "a manual gate before the start; with meshroll, commit or apply the Experiment when ready",
    "pre-rollout": "run this check in your pipeline before the Experiment is applied",
    "rollout": "meshroll judges real traffic; if the service has too little, run the load generator yourself",
    "confirm-traffic-increase": "a manual gate per step; stepGate: non-inferiority makes each step wait for evidence",
    "confirm-promotion": "a manual gate before promotion; meshroll promotes on evidence and minRequests",
    "post-rollout": "spec.notify.webhooks receives every event as JSON; act on the final one there",
    "rollback": "meshroll rolls back on evidence; to abort by hand, delete the Experiment",
    "event": "spec.notify.webhooks posts every event as JSON (meshroll's own payload); point it at a receiver",
}
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
    (("spec", "suspend"), "pause by not applying the Experiment (or delete it to roll back)"),
    (("spec", "analysis", "stepWeightPromotion"), "meshroll promotes in one move after the last step"),
    (("spec", "analysis", "primaryReadyThreshold"), "meshroll does not watch pod readiness"),
    (("spec", "analysis", "canaryReadyThreshold"), "meshroll does not watch pod readiness"),
    (("spec", "analysis", "metrics", "*", "interval"), "meshroll measures each metric over the whole step"),
    (("spec", "analysis", "alerts", "*", "severity"), "meshroll posts every event; Slack threads them per run"),
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
    analysis = required(document, ("spec", "analysis"), "a Canary needs spec.analysis (interval, weights, metrics)")
    if not isinstance(analysis, dict):
        raise ImporterError(f"{document.where(('spec', 'analysis'))}: expected a mapping of analysis fields")
    draft = Draft(document, "Flagger Canary", engine, str(name), document.namespace)
    document.get("metadata", "namespace")
    note_namespace(draft, "Canary")
    labels = document.get("metadata", "labels", default={})
    draft.labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}
    service = str(document.get("spec", "service", "name", default=None) or target_name)
    document.get("spec", "service", "port")
    _target_and_mesh(draft, document, service)
    taken: set[str] = set()
    _schedule(draft, document)
    session_affinity(draft, document)
    _threshold(draft, document)
    _metrics(draft, document, library, taken)
    ensure_arm_comparison(draft, taken)
    _alerts(draft, document, library)
    _webhooks(draft, document)
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


def _schedule(draft: Draft, document: PeerDocument) -> None:
    a = ("spec", "analysis")
    interval = duration(draft, document, (*a, "interval"), document.get(*a, "interval"), DEFAULT_INTERVAL, "interval")
    shown = format_duration(interval)
    iterations = document.get(*a, "iterations")
    match = document.get(*a, "match")
    mirror = document.get(*a, "mirror") is True
    step_weights = document.get(*a, "stepWeights")
    step_weight = document.get(*a, "stepWeight")
    strategy: dict[str, Any] = {}
    planned = 0.0
    if isinstance(iterations, int) and iterations > 0 and match:
        cohort = _cohorts(draft, document, match)
        planned = iterations * interval
        strategy["abTest"] = {"match": cohort, "duration": format_duration(planned), "stepInterval": shown}
        draft.choose(f"strategy.abTest: analysis.match for {iterations} iterations of {shown}")
    elif isinstance(step_weights, list) and step_weights:
        steps = _increasing([w for w in step_weights if isinstance(w, int) and not isinstance(w, bool)])
        if steps != step_weights:
            draft.choose(f"strategy.canary.steps: stepWeights {step_weights} as {steps} (increasing, below 100)")
        strategy["canary"] = {"steps": steps, "stepInterval": shown}
        planned = len(steps) * interval
    elif isinstance(step_weight, int) and not isinstance(step_weight, bool) and step_weight >= 100:
        strategy["canary"] = {"steps": [50], "stepInterval": shown}
        planned = interval
        document.get(*a, "maxWeight")
        draft.skip(
            document,
            (*a, "stepWeight"),
            f"{step_weight}: all traffic in one move leaves stable nothing to compare with; meshroll runs one 50% "
            "step and then promotes",
        )
    elif isinstance(step_weight, int) and not isinstance(step_weight, bool) and step_weight > 0:
        max_weight = document.get(*a, "maxWeight", default=100)  # Flagger's default
        if not isinstance(max_weight, int) or isinstance(max_weight, bool) or not 0 < max_weight <= 100:
            draft.skip(document, (*a, "maxWeight"), f"{show_value(max_weight)} is not a weight from 1 to 100; 100 used")
            max_weight = 100
        top = max(step_weight, min(max_weight, 99) // step_weight * step_weight)
        if top >= 100:
            top = step_weight
        if top != max_weight:
            draft.choose(f"strategy.canary.maxWeight {top}: meshroll promotes after the last step, below 100")
        strategy["canary"] = {"stepWeight": step_weight, "maxWeight": top, "stepInterval": shown}
        planned = len(range(step_weight, top + 1, step_weight)) * interval
    elif isinstance(iterations, int) and iterations > 0:
        planned = iterations * interval
        if not mirror:
            strategy["canary"] = {"steps": [50], "stepInterval": format_duration(planned)}
            draft.skip(
                document,
                (*a, "iterations"),
                f"blue/green ({iterations} iterations without match): meshroll keeps stable as the baseline, so it "
                "runs one 50% step for the same time and then promotes",
            )
    else:
        raise_missing(document)
    if match and "abTest" not in strategy:
        draft.skip(
            document,
            (*a, "match"),
            "a match without iterations: meshroll imported the weighted steps and routes no cohort; for an A/B "
            "test on these matches give iterations (or write strategy.abTest by hand)",
        )
    if mirror:
        percent = document.get(*a, "mirrorWeight", default=100)
        strategy["mirror"] = {"percent": percent}
        if "canary" not in strategy and "abTest" not in strategy:
            strategy["mirror"] |= {"duration": format_duration(planned), "stepInterval": shown}
        draft.choose(f"strategy.mirror: analysis.mirror with {percent}% of requests copied to the canary")
    draft.strategy = strategy
    set_deadline(draft, planned)


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


def raise_missing(document: PeerDocument) -> NoReturn:
    raise ImporterError(
        f"{document.where(('spec', 'analysis'))}: required field missing: give stepWeight and maxWeight, "
        "stepWeights, or iterations (with match for an A/B test)"
    )


def _increasing(weights: list[int]) -> list[int]:
    steps: list[int] = []
    for w in weights:
        if 0 < w < 100 and (not steps or w > steps[-1]):
            steps.append(w)
    return steps or [50]


def _cohorts(draft: Draft, document: PeerDocument, match: Any) -> list[dict[str, Any]]:
    """Istio HTTPMatchRequests as meshroll matches: headers and query parameters (suffix as a regex)."""
    cohorts: list[dict[str, Any]] = []
    for i, entry in enumerate(match if isinstance(match, list) else []):
        path = ("spec", "analysis", "match", i)
        converted: dict[str, Any] = {}
        for field, key in (("headers", "headers"), ("queryParams", "queryParams")):
            values = document.get(*path, field, default={})
            for header, condition in values.items() if isinstance(values, dict) else []:
                translated = _string_match(condition)
                if translated is None:
                    draft.skip(
                        document,
                        (*path, field, str(header)),
                        f"{show_value(condition)}: meshroll matches exact, prefix, suffix or regex; this condition is "
                        "left out, so the cohort is wider than Flagger's: write it as a regex by hand",
                    )
                    continue
                converted.setdefault(key, {})[str(header)] = translated
        for other in sorted(set(entry) - {"headers", "queryParams"} if isinstance(entry, dict) else []):
            draft.skip(
                document,
                (*path, other),
                f"match on {other}: meshroll matches a cohort by headers, cookies and query parameters only",
            )
        if converted:
            cohorts.append(converted)
    if not cohorts:
        raise ImporterError(
            f"{document.where(('spec', 'analysis', 'match'))}: no header or query-parameter condition to route a "
            "cohort by; meshroll's A/B test needs one"
        )
    return cohorts


def _string_match(condition: Any) -> dict[str, str] | None:
    """An Istio StringMatch as meshroll's (a suffix as a regex); None for any other condition."""
    if isinstance(condition, dict):
        if len(condition) != 1 or isinstance(next(iter(condition.values())), dict | list):
            return None
        for kind in ("exact", "prefix", "regex"):
            if kind in condition:
                return {kind: str(condition[kind])}
        if "suffix" in condition:
            return {"regex": ".*" + re.escape(str(condition["suffix"]))}
        return None
    if isinstance(condition, list) or condition is None:
        return None
    return {"exact": str(condition)}


def _metrics(draft: Draft, document: PeerDocument, library: Library, taken: set[str]) -> None:
    entries = document.get("spec", "analysis", "metrics", default=[])
    step = draft.strategy.get("canary", draft.strategy.get("abTest", draft.strategy.get("mirror", {})))
    for i in range(len(entries) if isinstance(entries, list) else 0):
        path = ("spec", "analysis", "metrics", i)
        raw = str(document.get(*path, "name", default=f"metric-{i}"))
        low = _bound(draft, document, (*path, "thresholdRange", "min"))
        high = _bound(draft, document, (*path, "thresholdRange", "max"))
        interval = document.get(*path, "interval")
        if interval is not None and step and str(interval) != step.get("stepInterval"):
            document.used.add((*path, "interval"))
            draft.choose(f"{raw}: Flagger queried it over {interval}; meshroll measures it over each whole step")
        if document.get(*path, "templateRef") is not None:
            metric = metric_template(draft, document, library, path, raw, low, high, taken)
        elif raw == "request-success-rate":
            metric = error_rate_metric(draft, metric_name(raw, taken), low, high)
            draft.choose(f"{raw} (non-5xx %) -> template {metric['template']}")
        elif raw == "request-duration":
            metric = latency_metric(draft, metric_name(raw, taken), low, high)
            draft.choose(f"{raw} (P99 ms) -> template {metric['template']}")
        else:
            draft.skip(document, path, f"metric {raw!r} is neither a Flagger builtin nor has a templateRef")
            metric = None
        if metric is None:
            draft.lost_metrics.append(f"metric '{raw}'")
        else:
            draft.metrics.append(metric)


def _bound(draft: Draft, document: PeerDocument, path: tuple[str | int, ...]) -> float | None:
    """A thresholdRange bound, or None with a note when it is not a number."""
    value = document.get(*path)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    draft.skip(document, path, f"{show_value(value)} is not a number; set the bound by hand")
    return None


def _alerts(draft: Draft, document: PeerDocument, library: Library) -> None:
    alerts = document.peek("spec", "analysis", "alerts", default=[])
    for i, alert in enumerate(alerts if isinstance(alerts, list) else []):
        path = ("spec", "analysis", "alerts", i)
        document.get(*path, "providerRef")
        ref = str(document.get(*path, "providerRef", "name", default=""))
        namespace = document.get(*path, "providerRef", "namespace", default=document.namespace)
        document.get(*path, "name")
        provider = library.find(("AlertProvider",), ref, namespace)
        label = f"alert {alert.get('name', ref)!r}" if isinstance(alert, dict) else "alert"
        if provider is None:
            draft.skip(document, path, f"{label}: AlertProvider {ref!r} is not in the files given; import it too")
            continue
        kind = provider.get("spec", "type")
        if kind != "slack" or "slack" in draft.notify:
            why = "meshroll posts to one Slack channel" if kind == "slack" else f"meshroll cannot post to {kind}"
            draft.skip(document, path, f"{label} ({kind}): {why}; use spec.notify.webhooks for other receivers")
            continue
        slack: dict[str, Any] = {"channel": str(provider.get("spec", "channel", default=""))}
        secret = provider.get("spec", "secretRef", "name")
        if secret:
            slack["webhookSecret"] = secret
            draft.skip(provider, ("spec", "secretRef"), f"Secret {secret}: meshroll reads the URL from key 'url'")
        elif provider.get("spec", "address"):
            draft.skip(provider, ("spec", "address"), "put the webhook URL in a Secret (key url): webhookSecret")
        draft.notify["slack"] = {k: v for k, v in slack.items() if v}
        provider.used.update({("spec",), ("metadata",)})
        draft.choose(f"spec.notify.slack: {label} through AlertProvider {ref}")


def _webhooks(draft: Draft, document: PeerDocument) -> None:
    hooks = document.get("spec", "analysis", "webhooks", default=[])
    for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
        kind = str(hook.get("type", "rollout")) if isinstance(hook, dict) else "rollout"
        name = hook.get("name", "") if isinstance(hook, dict) else ""
        hint = WEBHOOK_HINTS.get(kind, "meshroll has no webhooks of this type")
        draft.skip(document, ("spec", "analysis", "webhooks", i), f"{kind} webhook {name!r}: {hint}")
