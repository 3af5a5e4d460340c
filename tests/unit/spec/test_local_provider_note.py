"""provider: local is the embedded mesh of ``meshroll run`` and ``meshroll demo``: a valid file, which ``meshroll
validate`` accepts with a note that the in-cluster controller refuses it; ``meshroll run`` (which is what the file
is for) does not print that note."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from rollout.cli import app
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
    metrics: [{{name: error-rate, template: istio-error-rate}}]
"""
LOCAL = "{provider: local, loadRate: 50}"
ISTIO = "{provider: istio, virtualService: checkout}"


def validate(folder: Path, mesh: str) -> Result:
    file = folder / "checkout.yaml"
    file.write_text(EXPERIMENT.format(mesh=mesh))
    return CliRunner().invoke(app, ["validate", str(file)])


def test_validate_notes_that_the_controller_refuses_provider_local_and_still_exits_0(tmp_path: Path) -> None:
    result = validate(tmp_path, LOCAL)

    file = tmp_path / "checkout.yaml"
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{file}: ok (shop/checkout-v2)\n"
    assert result.stderr == (
        f"note: {file}:6:10 spec.mesh.provider: provider local is the embedded mesh of meshroll run and "
        "meshroll demo; the in-cluster controller refuses it (Ready False, InvalidSpec): to apply this file to a "
        "cluster, use istio, gateway-api or smi\n"
    )


def test_a_cluster_provider_gets_no_such_note(tmp_path: Path) -> None:
    result = validate(tmp_path, ISTIO)
    assert result.exit_code == 0 and result.stderr == ""


def test_each_local_experiment_of_a_file_gets_its_note_in_file_order(tmp_path: Path) -> None:
    text = EXPERIMENT.format(mesh=LOCAL) + "---\n" + EXPERIMENT.format(mesh=LOCAL).replace("checkout-v2", "v3")
    file = tmp_path / "two.yaml"
    file.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(file)])
    notes = result.stderr.splitlines()
    assert result.exit_code == 0 and [w.split(" ")[1] for w in notes] == [f"{file}:6:10", f"{file}:17:10"]


def test_meshroll_run_reads_the_file_without_that_note(tmp_path: Path) -> None:
    """The notes every command prints (``meshroll run`` too) leave it out: running the file on the embedded mesh
    is what it is for. Only the notes about a cluster carry it."""
    file = tmp_path / "checkout.yaml"
    file.write_text(EXPERIMENT.format(mesh=LOCAL))
    loaded = load_file(file)
    assert loaded.notes == []
    assert [(n.path, n.line, n.column) for n in loaded.usage_notes] == [("spec.mesh.provider", 6, 10)]


def test_validate_notes_a_metric_the_embedded_mesh_serves_only_from_prometheus(tmp_path: Path) -> None:
    """``meshroll run`` refuses it without ``--prometheus``: validate says so first, and still says ok."""
    file = tmp_path / "custom.yaml"
    custom = "    templates: [{name: memory, kind: gauge, value: 'avg(process_resident_memory_bytes)'}]\n"
    text = EXPERIMENT.format(mesh=LOCAL).replace("template: istio-error-rate", "template: memory") + custom
    file.write_text(text)

    result = CliRunner().invoke(app, ["validate", str(file)])

    assert result.exit_code == 0 and result.stdout == f"{file}: ok (shop/checkout-v2)\n"
    assert result.stderr.splitlines()[1] == (
        f"note: {file}:10:34 spec.analysis.metrics[0].template: meshroll run judges error-rate only with "
        "--prometheus URL --metrics-port N: the embedded mesh's own counters serve the templates istio-error-rate "
        "and istio-latency-histogram"
    )
