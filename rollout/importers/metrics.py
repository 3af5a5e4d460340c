"""Metrics both peers share: built-in error rate and latency, custom queries as gauges, and their ranges."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from analysis.templates import BUILTIN_TEMPLATES
from rollout.importers.draft import Draft

ERRORS_TEMPLATES = {"istio": "istio-error-rate", "linkerd": "linkerd-error-rate"}
LATENCY_TEMPLATES = {"istio": "istio-latency-histogram", "linkerd": "linkerd-latency-histogram"}
FLAGGER_DEFAULT_MIN_SUCCESS = 99.0  # percent; Flagger's documented request-success-rate example
FLAGGER_DEFAULT_MAX_P99_MS = 500.0  # ms; Flagger's documented request-duration example

_NOT_NAME = re.compile(r"[^a-z0-9_-]+")
SERVICE_SELECTOR = 'destination_service_name="{{service}}"'  # how the built-in Istio templates select a Service
_SERVICE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def metric_name(raw: str, taken: set[str]) -> str:
    """A metric or template name meshroll accepts (lower-case, '-' for anything else), unique in ``taken``."""
    base = _NOT_NAME.sub("-", raw.strip().lower()).strip("-_")[:55] or "metric"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def direction(low: float | None, high: float | None) -> str:
    """Which way a change is a regression, from the peer's accepted range."""
    if low is not None and high is not None:
        return "either"
    return "decrease" if low is not None else "increase"


def threshold_range(low: float | None, high: float | None) -> dict[str, float] | None:
    bounds = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    return bounds or None


def _with_range(metric: dict[str, Any], low: float | None, high: float | None) -> dict[str, Any]:
    bounds = threshold_range(low, high)
    if bounds:
        metric["thresholdRange"] = bounds
    return metric


def arm_services(draft: Draft) -> tuple[str, str] | None:
    """The Services the arms' requests go to when they are not spec.target.service: on Gateway API, the
    HTTPRoute's two backends (None elsewhere: Istio routes subsets of the target's host, Linkerd's
    metrics select Deployments)."""
    if draft.mesh.get("provider") != "gateway-api" or draft.mesh_family != "istio":
        return None
    target = draft.target
    stable, canary = (
        str(target[arm].get("service") or f"{target['service']}-{target[arm]['version']}")
        for arm in ("stable", "canary")
    )
    copied = (BUILTIN_TEMPLATES[t[draft.mesh_family]] for t in (ERRORS_TEMPLATES, LATENCY_TEMPLATES))
    if not all(SERVICE_SELECTOR in query for template in copied for query in template.queries.values()):
        return None  # the built-in templates no longer select so: not copied, and the note on spec.target says so
    return (stable, canary) if _SERVICE_NAME.match(stable) and _SERVICE_NAME.match(canary) else None


def builtin_template(draft: Draft, templates: dict[str, str]) -> str:
    """The built-in template for the draft's mesh family; on Gateway API, a copy of it that selects both backend
    Services (the built-in selects ``spec.target.service``, which carries neither arm there), written once."""
    name = templates[draft.mesh_family]
    services = arm_services(draft)
    builtin = BUILTIN_TEMPLATES[name]
    if services is None:
        return name
    if name not in draft.own_templates:
        own = metric_name(f"{name}-backends", {t["name"] for t in draft.templates})
        selector = f'destination_service_name=~"{services[0]}|{services[1]}"'
        template: dict[str, Any] = {"name": own, "kind": builtin.kind.value}
        template |= {role: query.replace(SERVICE_SELECTOR, selector) for role, query in builtin.queries.items()}
        if builtin.unit:
            template["unit"] = builtin.unit
        draft.templates.append(template)
        draft.own_templates[name] = own
        draft.choose(
            f"analysis.templates {own}: the built-in {name} selecting the Services {services[0]} and {services[1]}, "
            f"where the HTTPRoute sends stable and canary ({name} selects "
            f"{SERVICE_SELECTOR.replace('{{service}}', draft.target['service'])}, spec.target.service, which "
            "carries neither arm on Gateway API)"
        )
    return draft.own_templates[name]


def error_rate_metric(draft: Draft, name: str, min_success: float | None, max_success: float | None) -> dict[str, Any]:
    """Flagger's request-success-rate (percent of non-5xx responses) as the built-in error-rate template."""
    metric: dict[str, Any] = {"name": name, "template": builtin_template(draft, ERRORS_TEMPLATES)}
    if draft.engine == "sequential":
        metric |= {"margin": 0.1, "absoluteMargin": 0.002}
    metric["critical"] = True
    return _with_range(metric, min_success, max_success)


def latency_metric(draft: Draft, name: str, min_ms: float | None, max_ms: float | None) -> dict[str, Any]:
    """Flagger's request-duration (P99 in ms) as the built-in latency histogram."""
    metric: dict[str, Any] = {"name": name, "template": builtin_template(draft, LATENCY_TEMPLATES)}
    if draft.engine == "sequential":
        metric["margin"] = 0.1
        if max_ms is not None and max_ms > 0:
            metric["latencyEdges"] = [max_ms]
    return _with_range(metric, min_ms, max_ms)


def gauge_metric(draft: Draft, name: str, template: str, low: float | None, high: float | None) -> dict[str, Any]:
    """A peer's own query, one number per arm, judged as a gauge."""
    metric: dict[str, Any] = {"name": name, "template": template, "direction": direction(low, high)}
    if draft.engine == "sequential":
        metric["margin"] = 0.1
    return _with_range(metric, low, high)


def ensure_arm_comparison(draft: Draft, taken: set[str]) -> None:
    """Make sure the analysis has metrics meshroll can judge, and say why any were added."""
    if not draft.metrics:
        low = FLAGGER_DEFAULT_MIN_SUCCESS if draft.engine == "threshold" else None
        high = FLAGGER_DEFAULT_MAX_P99_MS if draft.engine == "threshold" else None
        draft.metrics.append(error_rate_metric(draft, metric_name("error-rate", taken), low, None))
        draft.metrics.append(latency_metric(draft, metric_name("latency", taken), None, high))
        lost = " and ".join(draft.lost_metrics)
        judged = (
            f"the peer judged by {lost}, which meshroll cannot run (see Not translated)"
            if lost
            else "the peer judged nothing"
        )
        draft.choose(
            f"analysis.metrics: {judged}, so error rate and latency ({draft.metrics[-2]['template']}, "
            f"{draft.metrics[-1]['template']}) were added (meshroll judges every step)"
            + (" with Flagger's documented ranges (success >= 99%, p99 <= 500ms)" if low is not None else "")
        )
        return
    builtin_errors = set(ERRORS_TEMPLATES.values()) | {draft.own_templates.get(t) for t in ERRORS_TEMPLATES.values()}
    if draft.engine == "sequential" and not any(m["template"] in builtin_errors for m in draft.metrics):
        template = ERRORS_TEMPLATES[draft.mesh_family]
        name = metric_name(template if "error-rate" in taken else "error-rate", taken)
        draft.metrics.insert(0, error_rate_metric(draft, name, None, None))
        draft.choose(
            f"analysis.metrics[0] {name} was added: the peer's queries measure one workload, while the "
            f"sequential engine compares canary with stable request by request on {draft.metrics[0]['template']}"
        )


_FLAGGER_VARIABLE = re.compile(r"{{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*}}")


def substitute(query: str, value_of: Callable[[str], str | None]) -> tuple[str, list[str]]:
    """``query`` with each ``{{ variable }}`` replaced by ``value_of(variable)``; also the ones it could not."""
    unresolved: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = value_of(match.group(1))
        if value is None:
            unresolved.append(match.group(1))
            return match.group(0)
        return value

    return _FLAGGER_VARIABLE.sub(replace, query).strip(), unresolved
