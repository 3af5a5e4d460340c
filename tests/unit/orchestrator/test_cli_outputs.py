"""Output paths and options a user can get wrong: refused in one line before any work, and nothing lost."""

from __future__ import annotations

import http.server
import os
import resource
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_errors import one_line_error

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
LOCAL = EXPERIMENTS / "demo-healthy.yaml"
STATUS = '{"phase": "Succeeded", "reason": "promoted"}'
CANARY = (  # a Flagger Canary with something that does not translate (a note on stderr)
    "apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo, namespace: test}\n"
    "spec:\n  provider: istio\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n"
    "  service: {port: 9898}\n  analysis: {interval: 1m, threshold: 5, maxWeight: 50, stepWeight: 10}\n"
)


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    path = tmp_path / "exp.yaml"
    shutil.copy(LOCAL, path)
    return path


def test_a_status_out_that_is_the_experiment_file_is_refused_and_the_file_kept(experiment: Path) -> None:
    before = experiment.read_text()
    output = one_line_error(["run", str(experiment), "--status-out", str(experiment), "--no-report"])
    assert f"--status-out {experiment}: is the experiment file itself" in output
    assert experiment.read_text() == before


def test_two_outputs_on_one_file_are_refused_before_the_run(experiment: Path, tmp_path: Path) -> None:
    same = tmp_path / "out.json"
    output = one_line_error(["run", str(experiment), "--status-out", str(same), "--report", str(same)])
    assert f"--report {same}: is also --status-out; give each output a file of its own" in output
    assert not same.exists()


@pytest.mark.parametrize("where", ["folder", "/proc/x/r.html"])
def test_a_report_path_that_cannot_be_written_is_refused_before_the_run(
    experiment: Path, tmp_path: Path, where: str
) -> None:
    report = tmp_path if where == "folder" else Path(where)
    output = one_line_error(["run", str(experiment), "--report", str(report)])
    assert output.startswith(f"meshroll: --report {report if where == 'folder' else report.parent}")


def test_report_and_no_report_together_are_refused(experiment: Path, tmp_path: Path) -> None:
    output = one_line_error(["run", str(experiment), "--no-report", "--report", str(tmp_path / "r.html")])
    assert "--report and --no-report contradict each other; give one of them" in output


def test_report_onto_its_own_status_file_is_refused_and_the_status_kept(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(STATUS)
    output = one_line_error(["report", str(status), "-o", str(status)])
    assert "is the status file being read" in output
    assert status.read_text() == STATUS


def _limited_to(size: int) -> None:  # runs in the child: writes past ``size`` bytes fail (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _meshroll_with_small_files(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from rollout.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: _limited_to(200),
    )


@pytest.mark.parametrize("command", ["report", "import"])
def test_an_output_that_fails_midway_keeps_the_earlier_file(tmp_path: Path, command: str) -> None:
    earlier = tmp_path / "earlier.out"
    earlier.write_text("an earlier result\n")
    if command == "report":
        (tmp_path / "status.json").write_text(STATUS)
        args = ["report", "status.json", "-o", str(earlier)]
    else:
        (tmp_path / "canary.yaml").write_text(CANARY)
        args = ["import", "canary.yaml", "-o", str(earlier)]
    result = _meshroll_with_small_files(args, tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("meshroll: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert earlier.read_text() == "an earlier result\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".earlier")]


def test_import_to_an_unwritable_path_prints_only_the_error(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY)
    output = one_line_error(["import", str(canary), "-o", str(tmp_path)])
    assert f"-o {tmp_path}: cannot write there" in output


def test_import_onto_one_of_its_own_files_is_refused_and_the_file_kept(tmp_path: Path) -> None:
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY)
    output = one_line_error(["import", str(canary), "-o", str(canary)])
    assert "is one of the files being imported" in output
    assert canary.read_text() == CANARY


def test_a_missing_ca_file_is_one_line_not_a_traceback() -> None:
    output = one_line_error(
        [
            "analyze",
            str(LOCAL),
            "--from",
            "-1h",
            "--prometheus",
            "https://127.0.0.1:9",
            "--prometheus-ca-file",
            "/no/ca.pem",
        ]
    )
    assert "--prometheus-ca-file /no/ca.pem: no such file; give the CA bundle (PEM)" in output


class _PlainHttp(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain_http() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlainHttp)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_https_to_a_plain_http_server_says_to_use_http_not_a_ca_bundle(plain_http: int) -> None:
    output = one_line_error(["analyze", str(LOCAL), "--from", "-1h", "--prometheus", f"https://127.0.0.1:{plain_http}"])
    assert (
        "does not speak TLS on that port; if it serves plain HTTP, use an http:// URL" in output
        and "CA bundle" not in output
    )


@pytest.mark.parametrize("args", [[], ["bench"], ["oracle"]])
def test_a_command_group_without_a_subcommand_prints_its_help_only(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rollout.cli import main

    monkeypatch.setattr(sys, "argv", ["meshroll", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    assert exited.value.code == 0
    assert "Usage" in captured.out and "meshroll: " not in captured.err


def test_a_usage_mistake_does_not_end_in_a_doubled_full_stop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rollout.cli import main

    monkeypatch.setattr(sys, "argv", ["meshroll", "run"])
    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().err.startswith("meshroll: Missing argument 'file'; see '")


def test_plan_names_a_min_requests_the_canary_never_serves_once(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rollout.cli import app

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(LOCAL.read_text().replace("minRequests: 500", "minRequests: 100000000000000000000000000000"))
    result = CliRunner().invoke(app, ["plan", str(experiment)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "minRequests" in line]
    assert lines == [
        "warning: at 250 req/s the canary never serves minRequests 1e+29: a healthy canary is not "
        "promoted; lower minRequests"
    ], result.output


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"apiVersion": "v1", "kind": "List", "items": []},
            "a List of objects; give one Experiment: kubectl get experiment NAME -o json",
        ),
        (
            {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "status": {"phase": "Healthy"}},
            "a Rollout (argoproj.io/v1alpha1), not a meshroll Experiment or its status",
        ),
    ],
)
def test_report_names_the_kind_of_a_document_from_another_tool(
    tmp_path: Path, document: dict[str, object], message: str
) -> None:
    import json

    source = tmp_path / "in.json"
    source.write_text(json.dumps(document))
    output = one_line_error(["report", str(source), "-o", str(tmp_path / "r.html")])
    assert f"{source}: {message}" in output


def test_one_port_for_the_router_and_its_metrics_is_refused_by_validate(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(
        LOCAL.read_text().replace("loadRate: 250", "loadRate: 250\n    port: 18777\n    metricsPort: 18777")
    )
    output = one_line_error(["run", str(experiment), "--no-report"])
    assert "spec.mesh: port and metricsPort are both 18777; the router and /metrics need a port each" in output


def test_a_metrics_port_that_is_the_router_s_port_is_refused_with_the_right_advice(tmp_path: Path) -> None:
    experiment = tmp_path / "exp.yaml"
    experiment.write_text(LOCAL.read_text().replace("loadRate: 250", "loadRate: 250\n    port: 18778"))
    output = one_line_error(["run", str(experiment), "--no-report", "--metrics-port", "18778"])
    assert "--metrics-port 18778 is the router's port (spec.mesh.port); pick another" in output


def test_a_journal_for_an_experiment_without_faults_is_noted_not_silently_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from rollout.cli import app, run_commands

    given: dict[str, object] = {}

    def execute(*_: object, journal: Path | None = None, **__: object) -> None:
        given["journal"] = journal
        raise typer.Exit(0)

    monkeypatch.setattr(run_commands, "execute", execute)
    result = CliRunner().invoke(app, ["run", str(LOCAL), "--journal", "/proc/x/j.json", "--no-report"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "note: --journal /proc/x/j.json: the experiment injects no faults (no spec.chaos), so no journal is written\n"
    )
    assert given == {"journal": None}


def test_a_metrics_port_of_zero_is_out_of_range_not_the_router_s_port() -> None:
    output = one_line_error(["run", str(LOCAL), "--no-report", "--metrics-port", "0"])
    assert "--metrics-port must be within 1..65535, got 0" in output


@pytest.mark.parametrize(
    "command", [["run", "--no-report"], ["plan"], ["analyze", "--prometheus", "http://127.0.0.1:9", "--from", "-1h"]]
)
def test_a_file_with_several_experiments_is_refused_by_commands_that_take_one(
    tmp_path: Path, command: list[str]
) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(LOCAL.read_text() + "---\n" + (EXPERIMENTS / "demo-slow-canary.yaml").read_text())
    output = one_line_error([command[0], str(both), *command[1:]])
    assert f"{both}: holds 2 experiments (demo/demo-healthy, demo/demo-slow-canary); " in output
    assert "give a file with one" in output


@pytest.mark.parametrize("command", [["run", str(LOCAL), "--no-report"], ["demo", "--scenario", "healthy"]])
def test_prometheus_without_a_fixed_metrics_port_is_refused_before_a_run_that_could_see_no_data(
    command: list[str],
) -> None:
    output = one_line_error([*command, "--prometheus", "http://127.0.0.1:9"])
    assert (
        "--prometheus: the mesh's /metrics port is chosen at random, so no Prometheus scrapes it; "
        "give --metrics-port N, a port your Prometheus scrapes" in output
    )


@pytest.mark.parametrize("device", ["/dev/stdout", "/dev/null"])
def test_a_device_as_an_output_of_run_is_refused_not_replaced(device: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer

    from rollout.cli import run_commands

    def execute(*_: object, **__: object) -> None:  # were the check to miss it, nothing runs and nothing is written
        raise typer.Exit(0)

    monkeypatch.setattr(run_commands, "execute", execute)
    output = one_line_error(["run", str(LOCAL), "--status-out", device, "--no-report"])
    assert f"--status-out {device}: is not an ordinary file; meshroll replaces" in output


@pytest.mark.parametrize(
    ("args", "whole"),
    [
        (["controller", "--help"], "--slack-signing-secret-file"),
        (["gitops", "--help"], "--webhook-secret-env"),
        (["bench", "analysis", "--help"], "--error-absolute-margin"),
    ],
)
def test_help_written_to_a_pipe_keeps_every_option_name_whole(args: list[str], whole: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    shown = subprocess.run(
        [sys.executable, "-c", "from rollout.entry import main; main()", *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert whole in shown.stdout and "…" not in shown.stdout


def test_a_run_s_warnings_are_meshroll_s_one_line_warnings(tmp_path: Path) -> None:
    experiment = tmp_path / "slack.yaml"
    experiment.write_text(
        "apiVersion: meshroll.io/v1alpha1\nkind: Experiment\nmetadata: {name: quiet, namespace: demo}\nspec:\n"
        "  target: {service: checkout, stable: {version: v1}, canary: {version: v2}}\n"
        "  mesh: {provider: local, loadRate: 100}\n  strategy: {canary: {steps: [10], stepInterval: 1s}}\n"
        '  notify: {slack: {channel: "#deploys"}}\n'
        "  analysis: {maxDuration: 2s, metrics: [{name: error-rate, template: istio-error-rate}]}\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SLACK_BOT_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-c", "from rollout.entry import main; main()", "run", str(experiment), "--no-report"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert "meshroll: warning: no Slack notifications for demo/quiet: set $SLACK_BOT_TOKEN\n" in done.stderr
    assert "Traceback" not in done.stderr
