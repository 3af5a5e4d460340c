"""A controller started without ``--prometheus`` starts no run whose metrics come from Prometheus: such a
run would move traffic to a canary it can never judge. Runs with nothing to read, or reading a metric-source
plugin, start as usual. (On the real API server: tests/integration/kube/test_reported_problems.py.)"""

from __future__ import annotations

from typing import Any, cast

import pytest

from analysis.sources import MetricsUnavailableError, StepSpan
from rollout.kube.run_factory import NO_PROMETHEUS, RunFactory
from rollout.spec import Experiment, load_experiment_text

CANARY = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: checkout-v2, namespace: shop}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: istio, virtualService: checkout}
  strategy: {canary: {steps: [5, 50], stepInterval: 1m}}
  analysis:
    metrics: [{name: error-rate, template: istio-error-rate, margin: 0.1}]
"""

DRILL = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: drill, namespace: shop}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: istio, virtualService: checkout}
  chaos:
    duration: 10m
    faults: [{abort: {httpStatus: 503, percent: 5}, arm: stable, maxDuration: 10m}]
"""


def factory(source_factory: Any) -> RunFactory:
    none = cast(Any, None)
    return RunFactory(
        none, none, none, identity="t", source_factory=source_factory, provider_factory=None, state_dir=None
    )


def experiment(text: str, **replace: str) -> Experiment:
    for old, new in replace.items():
        text = text.replace(old, new)
    return load_experiment_text(text, engines_here=False)


def test_a_canary_judged_from_prometheus_does_not_start_and_says_to_give_the_controller_one() -> None:
    held = factory(None).cannot_start(experiment(CANARY))
    assert held is not None
    assert (held.type, held.reason) == ("Warning", NO_PROMETHEUS)
    assert held.note.startswith("no run starts and no traffic moves: its metrics come from Prometheus")
    assert "--prometheus" in held.note and "prometheus.url" in held.note


def test_a_drill_whose_halt_rules_read_prometheus_does_not_start_either() -> None:
    """Its faults would go on with no rule watching them."""
    halting = (
        DRILL
        + "    haltWhen: [{metric: error-rate, above: 0.1}]\n  analysis:\n"
        + ("    metrics: [{name: error-rate, template: istio-error-rate}]\n")
    )
    assert factory(None).cannot_start(experiment(halting)) is not None


def test_what_reads_no_prometheus_starts_without_one() -> None:
    plugin = experiment(CANARY, **{"  analysis:\n": "  analysis:\n    source: web\n"})
    assert factory(None).cannot_start(plugin) is None  # its metrics come from the plugin
    assert factory(None).cannot_start(experiment(DRILL)) is None  # a drill without metrics reads nothing
    assert factory(lambda: None).cannot_start(experiment(CANARY)) is None  # the controller has a Prometheus


def test_a_run_under_way_when_the_controller_lost_its_prometheus_holds_and_says_why() -> None:
    source = factory(None)._source(experiment(CANARY))
    with pytest.raises(MetricsUnavailableError, match="started without --prometheus"):
        source.collect(StepSpan(0.0, 60.0, "v1", "v2", "checkout", "shop"), [])
