"""``meshroll report`` reads what the controller stores: an Experiment object or its ``.status``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rollout.cli import app
from rollout.kube.document import RunInfo, compose
from tests.unit.kube.test_document import long_run


def _report(tmp_path: Path, document: object) -> tuple[int, str, Path]:
    source, out = tmp_path / "in.json", tmp_path / "out.html"
    source.write_text(document if isinstance(document, str) else json.dumps(document))
    result = CliRunner().invoke(app, ["report", str(source), "-o", str(out)])
    return result.exit_code, result.output, out


def test_an_experiment_from_kubectl_is_reported_with_its_packed_history(tmp_path: Path) -> None:
    status = compose(long_run(judgements=400, metrics=2, steps=4), RunInfo(run=1), [], "a")
    assert status["earlierHistory"], "the first 100 entries are packed"
    experiment = {"apiVersion": "meshroll.io/v1alpha1", "kind": "Experiment", "spec": {}, "status": status}
    for document in (experiment, status):
        code, output, out = _report(tmp_path, document)
        assert code == 0, output
        assert "<svg" in out.read_text()


def test_an_experiment_without_a_run_or_a_file_that_is_not_json_is_one_line(tmp_path: Path) -> None:
    code, output, _ = _report(tmp_path, {"kind": "Experiment", "spec": {}, "status": {}})
    assert code != 0 and "has not started a run yet" in output and "Traceback" not in output
    code, output, out = _report(tmp_path, "{not json")
    assert code != 0 and "neither JSON nor YAML" in output and len(output.strip().splitlines()) == 1
    assert not out.exists()
    code, output, _ = _report(tmp_path, {"phase": "Progressing", "bogus": 1})
    assert code != 0 and "not a meshroll status" in output


def test_an_empty_object_is_neither_a_status_nor_an_experiment_and_has_nothing_to_report(tmp_path: Path) -> None:
    for document in ("{}", "\ufeff{}"):  # as kubectl -o jsonpath='{.status}' prints it, with or without a BOM
        code, output, out = _report(tmp_path, document)
        assert code == 1 and not out.exists(), output
        assert output.strip().endswith(
            "in.json: an empty object, neither a status file nor an Experiment (an Experiment's .status is empty "
            "until its first run); nothing to report"
        )


def test_json_nested_too_deeply_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    code, output, out = _report(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert code == 1 and "nested too deeply" in output, output
    assert len(output.strip().splitlines()) == 1 and not out.exists()
