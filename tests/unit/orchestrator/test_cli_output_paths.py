"""Output paths that cannot be written are refused in one line before any work starts."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rollout.cli import app

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def test_run_refuses_a_status_out_it_cannot_write_before_starting_the_mesh(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(
        app,
        ["run", str(EXPERIMENTS / "demo-healthy.yaml"), "--status-out", str(blocked / "s.json"), "--no-report"],
    )
    assert result.exit_code == 1, result.output
    assert "--status-out" in result.output and "cannot write there" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
