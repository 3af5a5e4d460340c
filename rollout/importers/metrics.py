"""Metrics both peers share: built-in error rate and latency, custom queries as gauges, and their ranges."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rollout.importers.draft import Draft

ERRORS_TEMPLATES = {"istio": "istio-error-rate", "linkerd": "linkerd-error-rate"}
LATENCY_TEMPLATES = {"istio": "istio-latency-histogram", "linkerd": "linkerd-latency-histogram"}
FLAGGER_DEFAULT_MIN_SUCCESS = 99.0  # percent; Flagger's documented request-success-rate example
FLAGGER_DEFAULT_MAX_P99_MS = 500.0  # ms; Flagger's documented request-duration example

_NOT_NAME = re.compile(r"[^a-z0-9_-]+")


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
    metrics select Deployments). The built-in Istio templates select them (``{{backend}}``)."""
    if draft.mesh.get("provider") != "gateway-api" or draft.mesh_family != "istio":
        return None
    target = draft.target
    stable, canary = (
        str(target[arm].get("service") or f"{target['service']}-{target[arm]['version']}")
        for arm in ("stable", "canary")
    )
    return stable, canary


def error_rate_metric(draft: Draft, name: str, min_success: float | None, max_success: float | None) -> dict[str, Any]:
    """Flagger's request-success-rate (percent of non-5xx responses) as the built-in error-rate template."""
    metric: dict[str, Any] = {"name": name, "template": ERRORS_TEMPLATES[draft.mesh_family]}
    if draft.engine == "sequential":
        metric |= {"margin": 0.1, "absoluteMargin": 0.002}
    metric["critical"] = True
    return _with_range(metric, min_success, max_success)


def latency_metric(draft: Draft, name: str, min_ms: float | None, max_ms: float | None) -> dict[str, Any]:
    """Flagger's request-duration (P99 in ms) as the built-in latency histogram."""
    metric: dict[str, Any] = {"name": name, "template": LATENCY_TEMPLATES[draft.mesh_family]}
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
    builtin_errors = set(ERRORS_TEMPLATES.values())
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
