"""An unrendered Helm chart template is refused in one line naming the file and line, with `helm template`:
whether its placeholders break the YAML or, quoted, would become literal values (a header match on the text
`{{ .Values.canaryHeader }}` routes nobody). Flagger's and Argo's own placeholders are not Helm's."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollout.cli import app
from tests.cli_errors import one_line_error
from tests.unit.importers.conftest import run_import

HEAD = "apiVersion: flagger.app/v1beta1\nkind: Canary\n"
SPEC = (
    "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n"
    "  analysis:\n    interval: 1m\n    stepWeight: 10\n    maxWeight: 50\n"
)


@pytest.mark.parametrize(
    ("text", "line", "shown"),
    [
        (HEAD + "metadata:\n  name: {{ .Release.Name }}\n" + SPEC, 4, "{{ .Release.Name }}"),  # breaks the YAML
        (HEAD + "metadata:\n  name: '{{ .Release.Name }}'\n" + SPEC, 4, "{{ .Release.Name }}"),  # parses
        (
            HEAD + "metadata: {name: web}\n" + SPEC + "    iterations: 5\n"
            '    match: [{headers: {x-canary: {exact: "{{ .Values.canaryHeader }}"}}}]\n',
            11,
            "{{ .Values.canaryHeader }}",
        ),
        (HEAD + 'metadata:\n  name: "{{ include "app.fullname" . }}"\n' + SPEC, 4, "{{ include"),
        (HEAD + "metadata: {name: web}\n" + SPEC + "    threshold: {{- $.Values.threshold }}\n", 10, "{{- $.Values"),
        (HEAD + "metadata: {name: web, labels: {chart: '{{- template \"x\" -}}'}}\n" + SPEC, 3, "{{- template"),
    ],
)
def test_an_unrendered_helm_template_is_refused_with_its_line_and_what_to_run(
    tmp_path: Path, text: str, line: int, shown: str
) -> None:
    chart = tmp_path / "canary.yaml"
    chart.write_text(text)
    output = one_line_error(["import", str(chart)])
    assert output.startswith(f"meshroll: {chart}:{line}:"), output
    assert f"an unrendered Helm template ({shown}" in output
    assert "render the chart first (helm template" in output


def test_standard_input_with_a_helm_template_is_refused_too() -> None:
    text = HEAD + "metadata: {name: '{{ .Release.Name }}'}\n" + SPEC
    result = CliRunner().invoke(app, ["import", "-"], input=text)
    assert result.exit_code == 1 and result.stderr.startswith("meshroll: -:3:"), result.stderr


def test_flaggers_and_argos_own_placeholders_are_not_taken_for_helm(peer: Path, tmp_path: Path) -> None:
    """{{ target }}, {{ namespace }}, {{ interval }}, {{ variables.x }}, {{args.x}}, and an Argo notification
    ConfigMap's Go templates ({{.rollout.metadata.name}}, {{if ...}}, {{end}})."""
    flagger = run_import(tmp_path, peer / "flagger-canary-istio.yaml", peer / "flagger-metrictemplate-prometheus.yaml")
    assert flagger.code == 0, flagger.stderr
    argo = run_import(
        tmp_path,
        peer / "argo-rollout-istio.yaml",
        peer / "argo-analysistemplate-prometheus.yaml",
        peer / "argo-notification-configmap-on-rollout-aborted.yaml",
    )
    assert argo.code == 0, argo.stderr
    variables = tmp_path / "variables.yaml"
    variables.write_text(
        HEAD + "metadata: {name: web}\n" + SPEC + "    metrics: [{name: errors, templateRef: {name: errors}, "
        "templateVariables: {port: '8080'}, thresholdRange: {max: 1}}]\n---\n"
        "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: errors}\n"
        "spec:\n  provider: {type: prometheus, address: 'http://prom:9090'}\n"
        '  query: sum(rate(errors{ns="{{ namespace }}",port="{{ variables.port }}",app="{{ target }}"}'
        "[{{ interval }}]))\n"
    )
    assert run_import(tmp_path, variables).code == 0
