"""Whole runs of ``meshroll run`` and ``meshroll demo`` as a user starts them: real processes, real HTTP
traffic through the embedded mesh, real signals."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]

pytestmark = pytest.mark.slow


def meshroll(*args: str, cwd: Path, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MESHROLL, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_sigterm_mid_run_aborts_and_leaves_the_router_all_stable(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    process = subprocess.Popen(
        [*MESHROLL, "run", str(REPO / "experiments" / "demo-healthy.yaml"), "--status-out", str(status_file),
         "--no-report"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if status_file.exists():
            status = json.loads(status_file.read_text())
            if status["phase"] == "Progressing" and status["trafficApplied"]:
                break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the run never reached Progressing")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err.strip() == "meshroll: aborted by SIGTERM: router at 100% stable, no faults"
    assert "Traceback" not in out + err
    status = json.loads(status_file.read_text())
    assert status["phase"] == "Aborted"
    assert status["traffic"] == {"canaryWeight": 0, "abActive": False, "mirrorPercent": 0.0, "faults": []}
    assert status["trafficApplied"] is True


def test_a_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = (
            (REPO / "experiments" / "demo-healthy.yaml")
            .read_text()
            .replace("provider: local", f"provider: local\n    port: {port}")
        )
        experiment = tmp_path / "busy.yaml"
        experiment.write_text(text)
        result = meshroll("run", str(experiment), "--no-report", cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"meshroll: port {port} on 127.0.0.1 is in use; pick another with --port or free it"


def test_a_broken_experiment_changes_nothing_and_says_where(tmp_path: Path) -> None:
    broken = REPO / "tests" / "unit" / "spec" / "broken" / "weight-above-100.yaml"
    result = meshroll("run", str(broken), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == f"meshroll: {broken}:15:22 spec.strategy.canary.steps[2]: weight 120 is above 100"
    assert list(tmp_path.iterdir()) == [], "nothing was written"


def test_a_cluster_provider_is_refused_by_run_with_the_next_step(tmp_path: Path) -> None:
    result = meshroll("run", str(REPO / "experiments" / "canary-istio.yaml"), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert "meshroll controller" in result.stderr and "\n" not in result.stderr.strip()


@pytest.mark.parametrize(
    ("scenario", "exit_code", "outcome"),
    [("erroring-canary", 2, "RolledBack"), ("slow-canary", 2, "RolledBack"), ("healthy", 0, "Succeeded")],
)
def test_each_demo_scenario_reaches_its_decision_with_numbers(
    tmp_path: Path, scenario: str, exit_code: int, outcome: str
) -> None:
    result = meshroll("demo", "--scenario", scenario, cwd=tmp_path)
    assert result.returncode == exit_code, result.stdout[-3000:] + result.stderr
    assert f"\n{outcome}: " in result.stdout
    assert "estimate" in result.stdout and "n=" in result.stdout, "the trail carries the numbers"
    report = Path(result.stdout.split("report: ")[1].split()[0])
    assert report.exists() and "<svg" in report.read_text()
