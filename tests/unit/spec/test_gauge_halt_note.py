"""A halt rule on a gauge (a reading, not a share of requests) has no sample to count: a ``minRequests``
written on it is ignored, and ``validate`` says so rather than letting the writer believe it holds."""

from __future__ import annotations

from pathlib import Path

from rollout.spec.loader import load_file

EXPERIMENT = """\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: checkout-v2, namespace: shop}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: istio, virtualService: checkout}
  strategy: {canary: {steps: [10, 50], stepInterval: 1m}}
  chaos:
    faults: [{delay: {fixed: 50ms, percent: 10}, arm: both}]
    haltWhen:
      - {metric: cpu, above: 0.9, minRequests: 20}
      - {metric: cpu, below: 0.01}
      - {metric: error-rate, above: 0.05, minRequests: 20}
  analysis:
    metrics: [{name: error-rate, template: istio-error-rate}, {name: cpu, template: cpu}]
    templates: [{name: cpu, kind: gauge, value: 'avg(rate(cpu_seconds_total{version="{{version}}"}[1m]))'}]
"""


def test_a_minimum_written_on_a_gauge_rule_is_noted_and_one_left_to_its_default_is_not(tmp_path: Path) -> None:
    file = tmp_path / "gauge.yaml"
    file.write_text(EXPERIMENT)

    notes = load_file(file).notes

    assert [(n.path, n.line) for n in notes] == [("spec.chaos.haltWhen[0].minRequests", 11)]
    assert notes[0].message == (
        "cpu is a gauge, a reading with no requests to count: the rule ignores minRequests; remove it"
    )
