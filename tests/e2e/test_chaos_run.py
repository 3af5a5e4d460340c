"""Chaos on the embedded mesh through ``meshroll run``: injected faults are measured, a broken steady
state halts them within one interval, and the journal records what happened."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]
pytestmark = pytest.mark.slow

HEAD = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: drill, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local, loadRate: 300}
  analysis:
    metrics: [{name: error-rate, template: istio-error-rate}]
"""


def run(
    tmp_path: Path, chaos: str, head: str = HEAD
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
    experiment = tmp_path / "drill.yaml"
    experiment.write_text(head + chaos)
    result = subprocess.run(
        [*MESHROLL, "run", str(experiment), "--status-out", "status.json", "--journal", "journal.json",
         "--no-report"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    journal = json.loads((tmp_path / "journal.json").read_text())
    status = json.loads((tmp_path / "status.json").read_text())
    return result, journal, status


def test_an_abort_fault_hits_its_configured_share_and_is_gone_at_the_end(tmp_path: Path) -> None:
    result, journal, status = run(tmp_path, """
  chaos:
    duration: 8s
    interval: 1s
    recovery: 1s
    faults:
      - {abort: {httpStatus: 503, percent: 15}, arm: stable}
    haltWhen: [{metric: error-rate, above: 0.5}]
""")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (fault,) = journal["faults"]
    (interval,) = fault["intervals"]
    low, high = interval["interval_999"]
    assert interval["requests"] > 1000
    assert low <= 15.0 <= high, f"measured {interval['measured_percent']:.2f}% in [{low:.2f}, {high:.2f}]"
    assert interval["off"] is not None
    assert status["phase"] == "Succeeded" and status["traffic"]["faults"] == []
    assert any(e["event"] == "recovery" and "holds" in e["reason"] for e in journal["events"])


def test_a_delay_fault_adds_its_configured_delay_to_its_share_of_requests(tmp_path: Path) -> None:
    result, journal, _ = run(tmp_path, """
  chaos:
    duration: 6s
    faults:
      - {delay: {fixed: 80ms, percent: 40}, arm: both}
""")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (interval,) = journal["faults"][0]["intervals"]
    low, high = interval["interval_999"]
    assert low <= 40.0 <= high
    assert interval["added_delay_ms"] == pytest.approx(80.0, abs=8.0)


def test_a_broken_steady_state_halts_the_faults_within_one_interval(tmp_path: Path) -> None:
    result, journal, status = run(tmp_path, """
  chaos:
    duration: 30s
    interval: 1s
    recovery: 1s
    faults:
      - {abort: {httpStatus: 503, percent: 40}, arm: stable}
    haltWhen: [{metric: error-rate, above: 0.1}]
""")  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert status["phase"] == "Aborted" and status["traffic"]["faults"] == []
    assert "error-rate on stable is" in status["reason"] and "above 0.1" in status["reason"]
    (interval,) = journal["faults"][0]["intervals"]
    assert interval["off"] - interval["on"] <= 1.0 + 1.5, "halted within one interval (plus scheduling slack)"


def test_a_fault_on_for_less_than_one_interval_is_still_checked_before_the_step_ends(tmp_path: Path) -> None:
    result, _, status = run(tmp_path, """
  strategy:
    canary: {steps: [10, 50], stepInterval: 2s}
  chaos:
    interval: 10s  # five steps long (and the steady state is measured for one before the run starts)
    recovery: 1s
    faults:
      - {abort: {httpStatus: 503, percent: 40}, arm: canary, during: {steps: [10]}}
    haltWhen: [{metric: error-rate, above: 0.1, minRequests: 10}]  # the ~60 of a 2 s step count, however few
""", head=HEAD.replace("  analysis:\n", "  analysis:\n    maxDuration: 8s\n"))  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert status["phase"] == "RolledBack" and status["traffic"]["faults"] == []
    assert status["reason"].startswith("steady state broken, faults halted: error-rate on canary is")
    assert max(e["traffic"]["canaryWeight"] for e in status["history"]) == 10, "halted in the step with the fault"


def test_an_already_broken_steady_state_refuses_to_start(tmp_path: Path) -> None:
    result, _, status = run(tmp_path, """
  chaos:
    duration: 10s
    faults:
      - {abort: {httpStatus: 503, percent: 5}, arm: stable}
    probes: [{url: "http://127.0.0.1:9/health", timeout: 500ms}]
""")  # fmt: skip
    assert result.returncode == 2
    assert status["phase"] == "Aborted" and "refused to start" in status["reason"]
    assert all(not entry["traffic"]["faults"] for entry in status["history"]), "no fault was ever injected"


def test_a_stable_already_failing_before_the_run_refuses_the_start_by_its_halt_rules(tmp_path: Path) -> None:
    """The embedded mesh has no traffic before its run: the start measures one interval first."""
    failing = HEAD.replace("loadRate: 300}", "loadRate: 300, stable: {errorRate: 0.2}}")
    result, _, status = run(tmp_path, """
  chaos:
    duration: 10s
    interval: 2s
    faults:
      - {delay: {fixed: 150ms, percent: 10}, arm: stable}
    haltWhen: [{metric: error-rate, above: 0.05}]
""", failing)  # fmt: skip
    assert status["phase"] == "Aborted" and "refused to start" in status["reason"], status["reason"]
    assert "error-rate on stable" in status["reason"]
    assert all(not entry["traffic"]["faults"] for entry in status["history"]), "no fault was ever injected"
    assert all(entry["traffic"]["canaryWeight"] == 0 for entry in status["history"]), "no traffic was shifted"
    assert result.returncode == 2


def test_faults_during_canary_steps_are_on_only_at_those_weights(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [*MESHROLL, "run", str(repo / "experiments" / "canary-with-chaos-local.yaml"), "--status-out", "status.json",
         "--journal", "journal.json", "--no-report"],
        cwd=tmp_path, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    status = json.loads((tmp_path / "status.json").read_text())
    for entry in status["history"]:
        faults_on = bool(entry["traffic"]["faults"])
        assert faults_on == (entry["toPhase"] == "Progressing" and entry["traffic"]["canaryWeight"] in (10, 25))
    reasons = [e["event"].get("reason", "") for e in status["history"] if e["event"]["type"] == "judged"]
    # the steady-state measurement before the run, all on stable, is in no step's window (it made the first
    # step's split look off and held it, every time)
    assert not [r for r in reasons if "traffic split is off" in r]
    assert result.returncode in (0, 2, 3)


def test_a_healthy_canary_under_injected_aborts_is_judged_and_promoted(tmp_path: Path) -> None:
    """Aborts answer in the caller's proxy: the canary's backends neither fail nor count those requests, so
    the canary gets less of what is counted than its weight, and the split check must expect exactly that
    (it used to find the split off at every faulted step, hold, and abort the run unjudged)."""
    head = HEAD.replace("loadRate: 300}", "loadRate: 400}").replace(
        "  analysis:\n    metrics: [{name: error-rate, template: istio-error-rate}]",
        "  strategy: {canary: {steps: [10, 25, 50], stepInterval: 5s}}\n"
        "  analysis:\n    maxDuration: 90s\n    minRequests: 300\n"
        "    metrics: [{name: error-rate, template: istio-error-rate, margin: 0.5, absoluteMargin: 0.01}]",
    )
    result, journal, status = run(tmp_path, """
  chaos:
    faults:
      - {abort: {httpStatus: 503, percent: 40}, arm: canary, during: {steps: [10, 25]}}
""", head)  # fmt: skip
    faulted = [e for e in status["history"] if e["event"]["type"] == "judged" and e["traffic"]["faults"]]
    assert faulted, "judged while the fault was on"
    assert not any("could not be judged" in e["event"]["reason"] for e in status["history"] if "reason" in e["event"])
    assert journal["faults"][0]["intervals"][0]["requests"] > 100
    assert (result.returncode, status["phase"]) == (0, "Succeeded"), result.stdout + result.stderr


def test_one_unlucky_error_among_a_few_requests_does_not_halt_a_healthy_canary(tmp_path: Path) -> None:
    """The probe's case: both arms err 1% of the time, the fault is a harmless 5ms delay, and the canary gets
    2 requests a second. One error among its first 4 requests (25%) used to halt the run and roll it back;
    a rule now waits for its minRequests (50) before it can halt."""
    head = HEAD.replace(
        "loadRate: 300}", "loadRate: 20, stable: {errorRate: 0.01}, canary: {errorRate: 0.01}}"
    ).replace(
        "  analysis:\n",
        "  strategy: {canary: {steps: [10, 50], stepInterval: 5s}}\n  analysis:\n    maxDuration: 10s\n",
    )
    result, journal, status = run(tmp_path, """
  chaos:
    interval: 1s
    recovery: 1s
    faults:
      - {delay: {fixed: 5ms, percent: 10}, arm: canary}
    haltWhen: [{metric: error-rate, above: 0.05}]
""", head)  # fmt: skip
    assert not [e for e in status["history"] if e["event"]["type"] == "halt"], result.stdout
    assert "steady state broken" not in status["reason"]
    # 20 requests a second for 1s after the run: too few to tell, and said so (not "not recovered")
    assert "could not tell whether the steady state recovered" in result.stdout
    assert journal["recovery"]["verdict"] == "unknown", journal["recovery"]


def test_a_halted_canary_s_recovery_is_checked_on_stable_printed_and_ends_the_journal(tmp_path: Path) -> None:
    """After a halt the canary is rolled back to weight 0: recovery is read where the traffic is (stable),
    printed as a line of the run's trail, and the journal ends with it."""
    head = HEAD.replace("  analysis:\n", "  strategy: {canary: {steps: [25, 50], stepInterval: 5s}}\n  analysis:\n")
    result, journal, status = run(tmp_path, """
  chaos:
    interval: 1s
    recovery: 1s
    faults:
      - {abort: {httpStatus: 503, percent: 30}, arm: canary}
    haltWhen: [{metric: error-rate, above: 0.1}]
""", head)  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert status["phase"] == "RolledBack" and "error-rate on canary is" in status["reason"]
    lines = [x for x in result.stdout.splitlines() if " recovery " in x]
    assert [x.split("] ", 1)[-1] for x in lines] == [
        "recovery            steady state holds on stable 1s after the faults ended"
    ], result.stdout
    assert all(journal["started"] <= e["time"] <= journal["ended"] for e in journal["events"])
    assert journal["recovery"]["verdict"] == "recovered", journal["recovery"]
