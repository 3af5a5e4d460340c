"""The peers' manual gates (Argo's indefinite pause and spec.paused, Flagger's confirm and rollback webhooks and
spec.suspend) are answered with meshroll's own operator commands: the meshroll.io/command annotation (pause,
resume, promote, abort) and the Slack buttons, not "meshroll has no manual gate" or "delete the Experiment"."""

from __future__ import annotations

from pathlib import Path

from tests.unit.importers.conftest import run_import, write_rollout

CANARY = (
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\nspec:\n"
    "  suspend: true\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n"
    "  analysis:\n    interval: 1m\n    stepWeight: 10\n    maxWeight: 50\n    webhooks:\n"
    "    - {name: traffic gate, type: confirm-traffic-increase, url: 'http://gate/approve'}\n"
    "    - {name: promotion gate, type: confirm-promotion, url: 'http://gate/approve'}\n"
    "    - {name: rollback gate, type: rollback, url: 'http://gate/rollback'}\n"
)
PAUSE = "kubectl annotate experiment podinfo -n test meshroll.io/command=pause --overwrite"


def _line(stderr: str, part: str) -> str:
    (line,) = [n for n in stderr.splitlines() if part in n]
    return line


def test_an_indefinite_pause_names_the_pause_and_promote_commands(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "argo-rollout-istio.yaml")
    line = _line(imported.stderr, "steps[1].pause: not translated")
    assert "kubectl annotate experiment istio-rollout -n default meshroll.io/command=pause --overwrite" in line
    assert "meshroll.io/command=promote" in line and "Slack's Pause, Promote and Resume buttons" in line
    assert "has no manual gate" not in line


def test_flaggers_gates_and_rollback_webhook_name_meshrolls_commands(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY)
    stderr = run_import(tmp_path, canary).stderr
    increase = _line(stderr, "webhooks[0]: not translated")
    assert PAUSE in increase and "meshroll.io/command=resume" in increase
    promotion = _line(stderr, "webhooks[1]: not translated")
    assert PAUSE in promotion and "meshroll.io/command=promote" in promotion and "Promote buttons" in promotion
    rollback = _line(stderr, "webhooks[2]: not translated")
    assert "kubectl annotate experiment podinfo -n test meshroll.io/command=abort --overwrite" in rollback
    assert "delete the Experiment" not in stderr
    assert PAUSE in _line(stderr, "spec.suspend: not translated: true:")


def test_argos_spec_paused_names_the_pause_command(tmp_path: Path) -> None:
    rollout = write_rollout(tmp_path, "steps: [{setWeight: 10}, {pause: {duration: 1m}}]")
    rollout.write_text(rollout.read_text().replace("spec:\n", "spec:\n  paused: true\n", 1))
    line = _line(run_import(tmp_path, rollout).stderr, "spec.paused: not translated")
    assert "kubectl annotate experiment billing -n fin meshroll.io/command=pause --overwrite" in line
