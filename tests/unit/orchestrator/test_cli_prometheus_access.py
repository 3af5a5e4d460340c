"""``meshroll run`` and ``demo`` reach Prometheus as ``analyze`` does: headers (a tenant), a CA bundle, TLS
checks off, a request timeout. What the options say reaches the client's config; given without
``--prometheus``, they are one line, not ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rollout.cli import app, prometheus_commands

DEMO = Path(__file__).resolve().parents[3] / "experiments" / "demo-healthy.yaml"
ACCESS = ["--prometheus-header", "X-Scope-OrgID:shop", "--prometheus-insecure", "--prometheus-timeout", "3"]


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The configs run and demo connect with; the command stops there (exit 7)."""
    seen: list[Any] = []

    def connect(config: Any) -> None:
        seen.append(config)
        raise typer.Exit(7)

    monkeypatch.setattr(prometheus_commands, "connect", connect)
    return seen


@pytest.mark.parametrize("command", [["run", str(DEMO)], ["demo"]])
def test_the_access_options_reach_the_prometheus_client(command: list[str], connected: list[Any]) -> None:
    given = [*command, "--prometheus", "https://prometheus.example:9090", "--metrics-port", "19999", *ACCESS]
    result = CliRunner().invoke(app, given)

    assert result.exit_code == 7, result.output
    (config,) = connected
    assert config.headers == (("X-Scope-OrgID", "shop"),)
    assert (config.insecure, config.timeout) == (True, 3.0)


@pytest.mark.parametrize("command", [["run", str(DEMO)], ["demo"]])
def test_access_options_without_prometheus_are_one_line_and_nothing_runs(
    command: list[str], connected: list[Any]
) -> None:
    result = CliRunner().invoke(app, [*command, *ACCESS])

    assert result.exit_code == 1 and not connected
    assert result.stderr == (
        "meshroll: --prometheus-header, --prometheus-ca-file, --prometheus-insecure and --prometheus-timeout are "
        "for --prometheus URL; give it, or drop them\n"
    )


def test_a_ca_file_that_is_not_there_is_one_line(tmp_path: Path, connected: list[Any]) -> None:
    missing = tmp_path / "ca.pem"
    given = ["run", str(DEMO), "--prometheus", "https://p:9090", "--metrics-port", "19999"]
    result = CliRunner().invoke(app, [*given, "--prometheus-ca-file", str(missing)])

    assert result.exit_code == 1 and not connected
    assert result.stderr.startswith(f"meshroll: --prometheus-ca-file {missing}: no such file")
