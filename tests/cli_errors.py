"""How a user's mistake must end on the command line: one line starting "meshroll: ", exit 1."""

from __future__ import annotations

from typer.testing import CliRunner

from rollout.cli import app


def one_line_error(args: list[str]) -> str:
    """Run ``meshroll ARGS``; assert it failed with exactly one line and no traceback; return the line."""
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.output.startswith("meshroll: ") and len(result.output.strip().splitlines()) == 1, result.output
    return result.output
