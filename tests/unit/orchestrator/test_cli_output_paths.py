"""Output paths that cannot be written are refused in one line before any work starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rollout.cli import app
from rollout.kube.document import RunInfo, compose
from tests.cli_errors import one_line_error
from tests.unit.kube.test_document import long_run
from tests.unit.orchestrator.test_cli_outputs import CANARY

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def test_run_refuses_a_status_out_it_cannot_write_before_starting_the_mesh(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    result = CliRunner().invoke(
        app,
        ["run", str(EXPERIMENTS / "demo-healthy.yaml"), "--status-out", str(blocked / "s.json"), "--no-report"],
    )
    assert result.exit_code == 1, result.output
    assert f"--status-out {blocked / 's.json'}: {blocked} is a file, not a folder; choose a folder" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("command", ["report", "import", "bench"])
def test_an_output_path_under_a_file_says_the_file_is_not_a_folder(tmp_path: Path, command: str) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    target = blocked / "deeper" / "out.html"
    status, canary = tmp_path / "status.json", tmp_path / "canary.yaml"
    status.write_text(json.dumps(compose(long_run(judgements=10, metrics=1, steps=2), RunInfo(run=1), [], "a")))
    canary.write_text(CANARY)
    option, args = {
        "report": ("-o", ["report", str(status), "-o", str(target)]),
        "import": ("-o", ["import", str(canary), "-o", str(target)]),
        "bench": ("--out", ["bench", "analysis", "--replays", "1", "--out", str(target)]),
    }[command]

    output = one_line_error(args)

    assert output.strip() == (
        f"meshroll: {option} {target}: {blocked} is a file, not a folder; choose a folder you can write to"
    )


def test_an_output_folder_that_is_a_file_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "bench.txt"
    blocked.write_text("not a folder")
    output = one_line_error(["bench", "analysis", "--replays", "1", "--out", str(blocked)])
    assert output.strip() == f"meshroll: --out {blocked}: is a file, not a folder; choose a folder you can write to"
