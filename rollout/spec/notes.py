"""Notes on a valid Experiment: what it says that will likely not do what its writer expects.

A note never stops a file (``meshroll validate`` prints it as a warning and keeps its exit code);
each comes with the path it belongs to, as the problems of ``checks`` do. ``notes`` hold wherever the
file runs (``meshroll run`` prints them too); ``usage_notes`` say where the file can run and what it
needs there (a cluster refuses provider local; the embedded mesh's counters serve two templates), which
only ``meshroll validate`` prints: ``meshroll run`` says it itself, as a refusal, when it applies.
"""

from __future__ import annotations

from analysis.templates import BUILTIN_TEMPLATES
from rollout.spec.analysis import AnalysisSpec
from rollout.spec.checks import Problem
from rollout.spec.models import Experiment


def notes(experiment: Experiment) -> list[Problem]:
    """Every note on ``experiment`` that holds wherever it runs, as (path, message) pairs."""
    return _uncounted_aborts(experiment) + _gauge_minimums(experiment) + _unmeasured_edges(experiment)


def _unmeasured_edges(experiment: Experiment) -> list[Problem]:
    """On the embedded mesh, a ``latencyEdges`` value that is none of its histogram's bucket boundaries: no step
    counts the requests slower than it, so the metric can never be proven non-inferior and the run never promotes.
    (A Prometheus in a cluster has the buckets its mesh was configured with, which a file cannot know.)"""
    from analysis.observations import MetricKind
    from rollout.judging import metric_kind
    from rollout.localmesh.metrics import ISTIO_DURATION_BUCKETS_MS
    from rollout.sources import CountersSource

    analysis = _local_metrics(experiment)
    if analysis is None:
        return []
    unserved = set(CountersSource.unserved(analysis))
    found: list[Problem] = []
    for i, metric in enumerate(analysis.metrics):
        if i in unserved or metric_kind(analysis, metric.template) is not MetricKind.LATENCY:
            continue
        for j, edge in enumerate(metric.latency_edges):
            if any(abs(edge - b) <= 1e-9 * b for b in ISTIO_DURATION_BUCKETS_MS):
                continue
            below = [b for b in ISTIO_DURATION_BUCKETS_MS if b < edge]
            above = [b for b in ISTIO_DURATION_BUCKETS_MS if b > edge]
            nearest = " and ".join(f"{b:g}" for b in (below[-1:] + above[:1]))
            found.append(
                (
                    ("spec", "analysis", "metrics", i, "latencyEdges", j),
                    f"{edge:g} ms is no bucket boundary of the embedded mesh's latency histogram (the nearest are "
                    f"{nearest} ms): no step can count the requests slower than it, so {metric.name} can never be "
                    "proven non-inferior there and the run cannot promote (its other edges are still judged); use "
                    "a boundary",
                )
            )
    return found


def _gauge_minimums(experiment: Experiment) -> list[Problem]:
    """A ``minRequests`` written on a halt rule whose metric is a gauge: a reading (CPU, queue depth), not a
    share of requests, has no sample to count, so the rule ignores it."""
    from analysis.observations import MetricKind
    from rollout.judging import metric_kind

    chaos, analysis = experiment.spec.chaos, experiment.spec.analysis
    if chaos is None or analysis is None:
        return []
    templates = {m.name: m.template for m in analysis.metrics}
    return [
        (
            ("spec", "chaos", "haltWhen", i, "minRequests"),
            f"{rule.metric} is a gauge, a reading with no requests to count: the rule ignores minRequests; remove it",
        )
        for i, rule in enumerate(chaos.halt_when)
        if "min_requests" in rule.model_fields_set
        and rule.metric in templates
        and metric_kind(analysis, templates[rule.metric]) is MetricKind.GAUGE
    ]


def _local_metrics(experiment: Experiment) -> AnalysisSpec | None:
    """The analysis of an embedded-mesh run whose metrics come from the mesh's own histograms and counters
    (directly, or through a Prometheus scraping them); None for any other run."""
    analysis = experiment.spec.analysis
    if experiment.spec.mesh.provider != "local" or analysis is None or analysis.source not in (None, "prometheus"):
        return None
    return analysis


def usage_notes(experiment: Experiment) -> list[Problem]:
    """Every note on where ``experiment`` can run and what it needs there, as (path, message) pairs."""
    return _embedded_mesh(experiment) + _needs_prometheus(experiment)


def _needs_prometheus(experiment: Experiment) -> list[Problem]:
    """On the embedded mesh, a metric whose template its own counters cannot serve (a query of your own,
    another mesh's metrics) is judged only from a Prometheus that scrapes it: ``meshroll run`` refuses it
    without ``--prometheus``."""
    from rollout.sources import CountersSource

    analysis = _local_metrics(experiment)
    if analysis is None:
        return []
    return [
        (
            ("spec", "analysis", "metrics", i, "template"),
            f"meshroll run judges {analysis.metrics[i].name} only with --prometheus URL --metrics-port N: the "
            f"embedded mesh's own counters serve the templates {CountersSource.SERVED}",
        )
        for i in CountersSource.unserved(analysis)
    ]


def _embedded_mesh(experiment: Experiment) -> list[Problem]:
    """``provider: local`` is valid, and is what ``meshroll run`` and ``demo`` run; the controller refuses it."""
    if experiment.spec.mesh.provider != "local":
        return []
    return [
        (
            ("spec", "mesh", "provider"),
            "provider local is the embedded mesh of meshroll run and meshroll demo; the in-cluster controller "
            "refuses it (Ready False, InvalidSpec): to apply this file to a cluster, use istio, gateway-api or smi",
        )
    ]


def _uncounted_aborts(experiment: Experiment) -> list[Problem]:
    """An abort answering an HTTP status that an error-rate metric's built-in template does not count (a 4xx
    for the templates that count 5xx): the fault injects errors that metric never sees, nor a haltWhen rule on it."""
    chaos, analysis = experiment.spec.chaos, experiment.spec.analysis
    if chaos is None or analysis is None:
        return []
    custom = {t.name for t in analysis.templates}
    counting = [
        (metric.name, metric.template, statuses)
        for metric in analysis.metrics
        if metric.template not in custom
        and (template := BUILTIN_TEMPLATES.get(metric.template)) is not None
        and (statuses := template.error_statuses) is not None
    ]
    found: list[Problem] = []
    for i, fault in enumerate(chaos.faults):
        status = fault.abort.http_status if fault.abort is not None else None
        if status is None:
            continue
        blind = [(m, t, s) for m, t, s in counting if not s[0] <= status <= s[1]]
        if not blind:
            continue
        templates = sorted({t for _, t, _ in blind})
        metrics = [m for m, _, _ in blind]
        counted = " and ".join(sorted({_statuses(s) for _, _, s in blind}))
        one = len(templates) == 1
        found.append(
            (
                ("spec", "chaos", "faults", i, "abort", "httpStatus"),
                f"an abort answering {status} is not counted as an error by template{'' if one else 's'} "
                f"{' and '.join(templates)}, which count{'s' if one else ''} only {counted} responses, so "
                f"metric{'' if len(metrics) == 1 else 's'} {', '.join(metrics)} will not show this fault; use a "
                "5xx status such as 503, or judge by a metric that counts 4xx (an errors template of your own in "
                "spec.analysis.templates)",
            )
        )
    return found


def _statuses(statuses: tuple[int, int]) -> str:
    first, last = statuses
    return f"{first // 100}xx" if first % 100 == 0 and last == first + 99 else f"{first}..{last}"
