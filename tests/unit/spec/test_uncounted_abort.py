"""An abort answering a 4xx is valid, but the built-in error-rate templates count 5xx: validate warns, exit 0."""

from __future__ import annotations

from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from rollout.cli import app

ISTIO = "{provider: istio, virtualService: checkout}"
LOCAL = "{provider: local}"  # validate notes that the controller refuses it (test_local_provider_note.py)


def experiment(
    status: int,
    metrics: str = "[{name: error-rate, template: istio-error-rate, critical: true}]",
    mesh: str = ISTIO,
    arm: str = "both",  # on Istio, a fault on one arm needs a match
) -> str:
    return f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: checkout-v2, namespace: shop}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {mesh}
  strategy:
    canary: {{steps: [10, 50], stepInterval: 1m}}
  chaos:
    faults:
      - {{delay: {{fixed: 100ms, percent: 10}}, arm: {arm}}}
      - abort: {{httpStatus: {status}, percent: 5}}
        arm: {arm}
  analysis:
    metrics: {metrics}
"""


def validate(folder: Path, text: str) -> Result:
    file = folder / "chaos.yaml"
    file.write_text(text)
    return CliRunner().invoke(app, ["validate", str(file)])


def test_validate_warns_that_a_404_abort_is_not_counted_by_the_error_rate_template_and_still_exits_0(
    tmp_path: Path,
) -> None:
    result = validate(tmp_path, experiment(404))

    file = tmp_path / "chaos.yaml"
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{file}: ok (shop/checkout-v2)\n"
    assert result.stderr == (
        f"warning: {file}:12:17 spec.chaos.faults[1].abort.httpStatus: an abort answering 404 is not counted as an "
        "error by template istio-error-rate, which counts only 5xx responses, so metric error-rate will not show "
        "this fault; use a 5xx status such as 503, or judge by a metric that counts 4xx (an errors template of "
        "your own in spec.analysis.templates)\n"
    )


def test_a_5xx_abort_gets_no_warning(tmp_path: Path) -> None:
    result = validate(tmp_path, experiment(503))
    assert result.exit_code == 0 and result.stderr == ""


def test_a_4xx_abort_judged_by_a_template_of_your_own_gets_no_warning(tmp_path: Path) -> None:
    own = (
        "[{name: client-errors, template: all-errors}]\n"
        "    templates:\n"
        "      - name: all-errors\n"
        "        kind: errors\n"
        "        requests: sum(rate(http_requests_total[{{window}}]))\n"
        "        errors: sum(rate(http_requests_total{code=~'[45]..'}[{{window}}]))"
    )
    result = validate(tmp_path, experiment(429, own))
    assert result.exit_code == 0 and result.stderr == ""


def test_one_warning_names_every_template_and_metric_that_cannot_see_the_abort(tmp_path: Path) -> None:
    both = (
        "[{name: mesh-errors, template: istio-error-rate}, {name: proxy-errors, template: linkerd-error-rate}, "
        "{name: again, template: istio-error-rate}]"
    )
    result = validate(tmp_path, experiment(451, both))
    [warning] = result.stderr.splitlines()
    assert "by templates istio-error-rate and linkerd-error-rate, which count only 5xx responses" in warning
    assert "so metrics mesh-errors, proxy-errors, again will not show this fault" in warning


def test_plan_prints_the_same_warning_before_its_estimate_as_run_does_before_its_run(tmp_path: Path) -> None:
    file = tmp_path / "chaos.yaml"
    file.write_text(experiment(404, mesh=LOCAL, arm="canary"))
    result = CliRunner().invoke(app, ["plan", str(file)])
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"warning: {file}:12:17 spec.chaos.faults[1].abort.httpStatus: an abort answering")
