"""A metric's unit comes from its template, so decisions say "slower than 250 ms", not "slower than 250"."""

from __future__ import annotations

from pathlib import Path

from rollout.judging import engine_config
from rollout.spec import load_experiment

REPO = Path(__file__).resolve().parents[3]

CUSTOM = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: shop, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local}
  strategy: {canary: {steps: [10], stepInterval: 1m}}
  analysis:
    metrics: [{name: latency, template: seconds}, {name: cpu, template: cpu}]
    templates:
      - name: seconds
        kind: latency
        unit: s
        buckets: 'sum by (le) (increase(h_bucket{v="{{version}}"}[{{window}}]))'
      - {name: cpu, kind: gauge, value: 'cpu{v="{{version}}"}'}
"""


def test_the_istio_latency_histogram_is_in_milliseconds() -> None:
    experiment = load_experiment(REPO / "experiments" / "canary-istio.yaml")
    units = {m.name: (m.kind.value, m.unit) for m in engine_config(experiment).metrics}
    assert units == {"error-rate": ("errors", ""), "latency": ("latency", "ms")}


def test_a_custom_template_gives_its_own_unit_or_none(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(CUSTOM)
    units = {m.name: m.unit for m in engine_config(load_experiment(path)).metrics}
    assert units == {"latency": "s", "cpu": ""}
