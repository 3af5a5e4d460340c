"""On the embedded mesh a latency edge must be one of its histogram's bucket boundaries: any other edge is never
counted, so the metric can never be proven non-inferior and the run cannot promote. ``validate`` warns, naming
the nearest boundaries; on a cluster mesh the buckets are the mesh's own, which a file cannot know."""

from __future__ import annotations

from pathlib import Path

from rollout.spec.loader import load_file

EXPERIMENT = """\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: checkout-v2, namespace: shop}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {mesh}
  strategy:
    canary: {{steps: [10, 50], stepInterval: 1m}}
  analysis:
    metrics: [{{name: latency, template: istio-latency-histogram, latencyEdges: [25, 26, 100]}}]
"""


def _notes(folder: Path, mesh: str) -> list[tuple[str, str]]:
    file = folder / "checkout.yaml"
    file.write_text(EXPERIMENT.format(mesh=mesh))
    return [(n.path, n.message) for n in load_file(file).notes]


def test_an_edge_the_embedded_mesh_does_not_measure_is_named_with_the_nearest_boundaries(tmp_path: Path) -> None:
    assert _notes(tmp_path, "{provider: local, loadRate: 50}") == [
        (
            "spec.analysis.metrics[0].latencyEdges[1]",
            "26 ms is no bucket boundary of the embedded mesh's latency histogram (the nearest are 25 and 50 ms): "
            "no step can count the requests slower than it, so latency can never be proven non-inferior there and "
            "the run cannot promote (its other edges are still judged); use a boundary",
        )
    ]


def test_a_cluster_mesh_s_buckets_are_not_guessed(tmp_path: Path) -> None:
    assert _notes(tmp_path, "{provider: istio, virtualService: checkout}") == []
