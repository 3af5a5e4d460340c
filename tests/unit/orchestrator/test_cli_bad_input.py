"""Odd files and options given to the commands that read them end in one line and exit 1, never a traceback."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollout.cli import app
from tests.cli_errors import one_line_error

EXPERIMENT = Path(__file__).resolve().parents[3] / "experiments" / "canary-istio.yaml"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--prometheus", "http://[::1", "--from", "-1h"], "'http://[::1' is not a Prometheus URL (Invalid IPv6 URL)"),
        (["--prometheus", "http://u:pw@[::1", "--from", "-1h"], "'http://[::1' is not a Prometheus URL"),
        (
            ["--prometheus", "http://127.0.0.1:9", "--from", "-1h", "--prometheus-header", "X-Org: a\nb"],
            "the header 'X-Org' is not NAME:VALUE on one line",
        ),
        (
            ["--prometheus", "http://127.0.0.1:9", "--from", "99999999999999999999", "--to", "99999999999999999999"],
            "'99999999999999999999' is out of range; give a time between 1970-01-01 and 9999-12-31",
        ),
        (["--prometheus", "http://127.0.0.1:9", "--from", "now-99999d"], "(duration '99999d' is longer than 3650d"),
    ],
)
def test_analyze_refuses_urls_headers_and_times_it_cannot_use_in_one_line(options: list[str], message: str) -> None:
    output = one_line_error(["analyze", str(EXPERIMENT), *options])
    assert message in output and "pw" not in output


def _kubeconfig(folder: Path, server: str) -> Path:
    path = folder / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    return path


def test_chaos_stop_with_an_api_server_that_does_not_answer_says_so_in_one_line(tmp_path: Path) -> None:
    kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    output = one_line_error(["chaos", "stop", "--all", "--kubeconfig", str(kubeconfig)])
    assert "listing Experiments: the API server did not answer" in output


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_chaos_stop_against_a_server_that_is_no_api_server_does_not_report_success(tmp_path: Path) -> None:
    # Answers 404 to everything, as a missing Experiment CRD would: "0 experiments stopped" would be a lie.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kubeconfig = _kubeconfig(tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
        output = one_line_error(["chaos", "stop", "--all", "--kubeconfig", str(kubeconfig)])
    finally:
        server.shutdown()
    assert "does not answer as a Kubernetes API server (no /version)" in output


def test_bench_status_refuses_an_infinite_interval() -> None:
    result = CliRunner().invoke(app, ["bench", "status", "--interval", "inf"])
    assert result.exit_code != 0 and "--interval" in result.output


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("command", ["crd", "schema"])
def test_output_to_a_full_disk_is_one_line(command: str) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-c", "from rollout.cli import main; main()", command],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr == (
        "meshroll: cannot write the output (No space left on device); free some space or write elsewhere\n"
    )


def test_ctrl_c_outside_a_run_says_interrupted_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import BaseModel

    from rollout.cli import main

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(BaseModel, "model_json_schema", classmethod(interrupted))
    monkeypatch.setattr(sys, "argv", ["meshroll", "schema"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 130
    assert capsys.readouterr().err == "meshroll: interrupted\n"


def test_a_controller_gitops_path_outside_the_repository_is_refused_before_connecting() -> None:
    output = one_line_error(["controller", "--gitops-repo", "/nowhere/repo.git", "--gitops-path", "../deploy"])
    assert output.startswith("meshroll: --gitops-path '../deploy' leaves the repository; give a folder inside it")


def test_an_unknown_choice_is_said_without_pydantics_value_error_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rollout.cli import main

    monkeypatch.setattr(sys, "argv", ["meshroll", "demo", "--scenario", "nope"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    err = capsys.readouterr().err  # the hint names the program as click saw it start (here: pytest)
    assert err.startswith(
        "meshroll: Invalid value for '--scenario': 'nope' is not one of 'healthy', 'slow-canary', "
        "'erroring-canary'; see '"
    ), err
    assert len(err.splitlines()) == 1


def test_analyze_refuses_a_chaos_only_drill_as_plan_does() -> None:
    drill = EXPERIMENT.with_name("chaos-only-istio.yaml")
    output = one_line_error(["analyze", str(drill), "--prometheus", "http://127.0.0.1:9", "--from", "-1h"])
    assert "a chaos-only experiment has no canary to judge; analyze judges a canary against stable" in output
