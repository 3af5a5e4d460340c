"""Whole runs of ``meshroll run`` and ``meshroll demo`` as a user starts them: real processes, real HTTP
traffic through the embedded mesh, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analysis.prometheus import PrometheusConfig
from rollout.runner import run_local
from rollout.spec.loader import load_experiment_text
from rollout.status import Phase, Status

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


def test_sigint_mid_demo_says_so_once_and_stops_there(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*MESHROLL, "demo"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:  # the first scenario is under way
        if "Experiment started" in line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err.strip() == "meshroll: aborted by SIGINT: router at 100% stable, no faults"
    assert "aborted by SIGINT" not in out and "meshroll demo" not in out, "no second copy, no summary table"
    assert "Traceback" not in out + err


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
    assert (
        result.stderr.strip()
        == f"meshroll: port {port} on 127.0.0.1 is in use; pick another with spec.mesh.port or free it"
    )


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


QUICK = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {name: quick, namespace: demo}
spec:
  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}
  mesh: {provider: local, loadRate: 100}
  strategy:
    canary: {steps: [10, 50], stepInterval: 2s}
  analysis:
    maxDuration: 20s
    metrics: [{name: error-rate, template: istio-error-rate, margin: 0.5, absoluteMargin: 0.01}]
"""


def test_a_run_ends_by_its_max_duration_not_a_step_interval_after_it(tmp_path: Path) -> None:
    # two steps of 4 s (8 s of schedule) with a deadline at 6 s: the second step's wait is cut short there
    text = QUICK.replace("stepInterval: 2s", "stepInterval: 4s").replace("maxDuration: 20s", "maxDuration: 6s")

    result = run_local(load_experiment_text(text), status_out=tmp_path / "status.json")

    status = result.status
    assert status.started_at is not None
    verdicts = [e for e in status.history if e.event.type in ("judged", "no-data", "metrics-unavailable")]
    first, last = (e.time - status.started_at for e in verdicts)
    assert 4 <= first < 6 and 6 <= last < 7.5, "judged at 4 s and at the deadline (6 s), not at 8 s"
    assert (status.phase, result.exit_code) == (Phase.INCONCLUSIVE, 3)
    assert "no decision by maxDuration (6s)" in status.reason and result.router_safe


def test_a_second_ctrl_c_during_the_abort_neither_raises_nor_cuts_it_short(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    sent: list[Phase] = []

    def interrupt_twice(status: Status) -> None:  # the second one lands while the abort is being carried out
        if (not sent and status.phase is Phase.PROGRESSING) or (len(sent) == 1 and status.phase is Phase.ABORTED):
            sent.append(status.phase)
            os.kill(os.getpid(), signal.SIGINT)

    result = run_local(load_experiment_text(QUICK), status_out=status_file, on_change=interrupt_twice)

    assert sent == [Phase.PROGRESSING, Phase.ABORTED]
    assert (result.exit_code, result.interrupted, result.router_safe) == (1, "SIGINT", True)
    saved = json.loads(status_file.read_text())
    assert saved["phase"] == "Aborted" and saved["trafficApplied"] is True


def test_run_starts_afresh_over_an_earlier_status_file(tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    earlier = Status(phase=Phase.SUCCEEDED, reason="an earlier run of another experiment", started_at=1.0)
    status_file.write_text(earlier.model_dump_json(by_alias=True))

    def interrupt(status: Status) -> None:
        if status.phase is Phase.PROGRESSING and status.traffic_applied:
            os.kill(os.getpid(), signal.SIGTERM)

    result = run_local(load_experiment_text(QUICK), status_out=status_file, on_change=interrupt)

    assert result.status.phase is Phase.ABORTED and result.interrupted == "SIGTERM"
    assert result.status.history[0].event.type == "start" and result.status.started_at != 1.0
    assert json.loads(status_file.read_text())["phase"] == "Aborted"


def test_ctrl_c_during_the_recovery_check_keeps_the_outcome_and_says_so_in_the_journal(tmp_path: Path) -> None:
    experiment = tmp_path / "drill.yaml"
    experiment.write_text(QUICK.replace("  strategy:\n    canary: {steps: [10, 50], stepInterval: 2s}\n", """
  chaos:
    duration: 2s
    interval: 1s
    recovery: 120s
    faults: [{delay: {fixed: 5ms, percent: 10}, arm: stable}]
    haltWhen: [{metric: error-rate, above: 0.5}]
"""))  # fmt: skip
    status_file, journal = tmp_path / "status.json", tmp_path / "journal.json"
    process = subprocess.Popen(
        [*MESHROLL, "run", str(experiment), "--status-out", str(status_file), "--journal", str(journal)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (status_file.exists() and json.loads(status_file.read_text())["phase"] == "Succeeded"):
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the drill never succeeded")
        time.sleep(0.1)
    time.sleep(0.5)  # into the 120 s wait before the recovery check
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)  # well before the recovery time is up
    assert process.returncode == 0, out + err
    assert "Traceback" not in out + err
    assert out.strip().splitlines()[-1].startswith("Succeeded: "), "the final line still comes"
    assert "report: " in out
    events = json.loads(journal.read_text())["events"]
    assert events[-1]["event"] == "recovery" and events[-1]["reason"] == "not checked: interrupted by SIGINT"


@pytest.mark.parametrize(
    ("change", "extra", "message"),
    [
        (
            ("template: istio-error-rate", "template: linkerd-error-rate"),
            [],
            "the embedded mesh's own counters serve only the templates istio-error-rate and "
            "istio-latency-histogram, not error-rate (template linkerd-error-rate); use those templates, "
            "or judge from a Prometheus that scrapes the mesh (--prometheus URL --metrics-port N)",
        ),
        (("", ""), ["--status-out", "."], "--status-out .: is a folder; give the path of a file (in it or elsewhere)"),
    ],
)
def test_what_run_cannot_do_is_refused_before_anything_starts(
    tmp_path: Path, change: tuple[str, str], extra: list[str], message: str
) -> None:
    experiment = tmp_path / "quick.yaml"
    experiment.write_text(QUICK.replace(*change))
    result = meshroll("run", str(experiment), "--no-report", *extra, cwd=tmp_path, timeout=60)
    assert (result.returncode, result.stderr.strip()) == (1, f"meshroll: {message}")
    assert [p.name for p in tmp_path.iterdir()] == ["quick.yaml"], "nothing was written"


def test_ctrl_c_while_prometheus_hangs_aborts_at_once_not_after_the_query_timeouts(tmp_path: Path) -> None:
    """A Prometheus that accepts the query and never answers (timeout 60 s, retried): the step's read waits,
    the abort does not."""
    asked = threading.Event()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        held: list[socket.socket] = []

        def accept() -> None:
            while True:
                try:
                    connection = server.accept()[0]
                    connection.recv(65536)  # take the query, answer nothing
                    held.append(connection)
                except OSError:
                    return
                if not asked.is_set():
                    asked.set()
                    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()

        threading.Thread(target=accept, daemon=True).start()
        prometheus = PrometheusConfig(f"http://127.0.0.1:{server.getsockname()[1]}", timeout=60.0)

        result = run_local(load_experiment_text(QUICK), prometheus=prometheus, status_out=tmp_path / "status.json")
        waiting = [c for c in held if still_open(c)]
        for connection in held:
            connection.close()

    assert asked.is_set(), "the step's query reached the hung Prometheus"
    assert (result.interrupted, result.status.phase, result.router_safe) == ("SIGINT", Phase.ABORTED, True)
    assert waiting, "the run ended with its query still waiting: the abort did not wait out the timeouts"


def still_open(connection: socket.socket) -> bool:
    """Whether the client still holds the connection (has not given up on its query)."""
    connection.setblocking(False)
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
