"""``meshroll report`` reads what people dump: ``kubectl get -o json`` or ``-o yaml``, titled by the object."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from rollout.kube.document import RunInfo, compose
from tests.cli_errors import one_line_error
from tests.unit.kube.test_document import long_run


def _experiment(metadata: dict[str, str]) -> dict[str, object]:
    status = compose(long_run(judgements=30, metrics=2, steps=4), RunInfo(run=1), [], "a")
    return {
        "apiVersion": "meshroll.io/v1alpha1",
        "kind": "Experiment",
        "metadata": metadata,
        "spec": {},
        "status": status,
    }


def _report(tmp_path: Path, name: str, text: str) -> str:
    from typer.testing import CliRunner

    from rollout.cli import app

    source, out = tmp_path / name, tmp_path / "out.html"
    source.write_text(text)
    result = CliRunner().invoke(app, ["report", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out.read_text()


def _title(page: str) -> str:
    found = re.search(r"<title>(.*?)</title>", page)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("dump", [json.dumps, yaml.safe_dump], ids=["json", "yaml"])
def test_an_experiment_object_is_titled_by_its_namespace_and_name(tmp_path: Path, dump: object) -> None:
    document = _experiment({"name": "checkout-v2", "namespace": "shop"})
    page = _report(tmp_path, "exp-final.out", dump(document))  # type: ignore[operator]
    assert _title(page) == "shop/checkout-v2"
    assert "<svg" in page


def test_a_status_file_keeps_the_file_name_as_its_title_and_title_overrides_both(tmp_path: Path) -> None:
    document = _experiment({"name": "checkout-v2", "namespace": "shop"})
    assert _title(_report(tmp_path, "run-7.yaml", yaml.safe_dump(document["status"]))) == "run-7"
    from typer.testing import CliRunner

    from rollout.cli import app

    out = tmp_path / "titled.html"
    result = CliRunner().invoke(app, ["report", str(tmp_path / "run-7.yaml"), "-o", str(out), "--title", "mine"])
    assert result.exit_code == 0 and _title(out.read_text()) == "mine"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{}", "an empty object, neither a status file nor an Experiment"),
        ("kind: Experiment\nmetadata: {name: a, namespace: b}\nspec: {}\n", "the Experiment b/a has not started a run"),
        ("a: [1,\n", "neither JSON nor YAML (line 2 column 1: did not find expected node content)"),
        ("a: &x [1]\nb: *x\n", "not a status: it uses YAML aliases (*name), which kubectl never writes"),
        ("x: " + "[" * 5000 + "]" * 5000, "not a status: it is nested more than 64 levels deep"),
        ("just words", "not a JSON or YAML object (the top level is a string)"),
        ("  \n", "the file is empty"),
    ],
    ids=["empty-object", "no-run", "broken-yaml", "aliases", "deep", "scalar", "blank"],
)
def test_what_cannot_be_reported_is_one_line_saying_why(tmp_path: Path, text: str, message: str) -> None:
    source = tmp_path / "in.yaml"
    source.write_text(text)
    output = one_line_error(["report", str(source), "-o", str(tmp_path / "out.html")])
    assert f"meshroll: {source}: {message}" in output
    assert not (tmp_path / "out.html").exists()
