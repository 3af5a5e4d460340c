"""spec.after: what it accepts, what it refuses and where it says so; ``meshroll run`` ignores it with a note."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollout.cli import app
from rollout.spec import SpecError
from rollout.spec.loader import load_experiments_text
from rollout.spec.models import Experiment


def experiment_text(after: str, provider: str = "{provider: istio, virtualService: checkout}") -> str:
    return f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: payments-v3, namespace: shop}}
spec:
  target: {{service: payments, stable: {{version: v2}}, canary: {{version: v3}}}}
  mesh: {provider}
  strategy:
    canary: {{steps: [10, 50], stepInterval: 1m}}
  analysis:
    metrics: [{{name: error-rate, template: istio-error-rate}}]
  after: {after}
"""


def load(after: str) -> Experiment:
    return load_experiments_text(experiment_text(after), "x.yaml")[0]


def problems(after: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(after)
    return [str(p) for p in caught.value.problems]


def test_after_names_experiments_in_its_own_namespace_or_another() -> None:
    spec = load("[{name: checkout-v2}, {name: auth-v5, namespace: identity}]").spec
    assert [(r.name, r.namespace) for r in spec.after] == [("checkout-v2", None), ("auth-v5", "identity")]
    assert load("[]").spec.after == []


@pytest.mark.parametrize(
    ("after", "said"),
    [
        ("[{namespace: shop}]", "x.yaml:11:11 spec.after[0].name: required field is missing"),
        ("[{name: Checkout}]", "spec.after[0].name: 'Checkout' is not a valid name"),
        ("[{name: checkout-v2, version: v2}]", "spec.after[0].version: unknown field 'version'; allowed: name"),
        ("checkout-v2", "x.yaml:11:3 spec.after: expected a list"),
        ("[{name: payments-v3}]", "x.yaml:11:11 spec.after[0]: an Experiment cannot run after itself"),
        ("[{name: payments-v3, namespace: shop}]", "spec.after[0]: an Experiment cannot run after itself"),
        ("[{name: a}, {name: a, namespace: shop}]", "x.yaml:11:22 spec.after[1]: shop/a is named twice"),
    ],
)
def test_a_bad_after_says_where(after: str, said: str) -> None:
    found = problems(after)
    assert any(said in p for p in found), found


def test_meshroll_run_notes_in_one_line_that_it_ignores_after(tmp_path: Path) -> None:
    file = tmp_path / "e.yaml"
    file.write_text(experiment_text("[{name: checkout-v2}]", "{provider: local, port: 18080}"))
    assert CliRunner().invoke(app, ["validate", str(file)]).exit_code == 0
    # stops right after the note (the metrics port is the router's), before the embedded mesh starts
    result = CliRunner().invoke(app, ["run", str(file), "--metrics-port", "18080", "--no-report"])
    lines = [line for line in result.output.splitlines() if "spec.after" in line]
    assert lines == [
        "note: spec.after is ignored here: the embedded mesh runs this one experiment alone, with no other "
        "Experiment to wait for; meshroll controller orders the starts in a cluster"
    ], result.output
    assert result.exit_code == 1
