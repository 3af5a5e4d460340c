"""The ``meshroll`` command line. User mistakes end in one clear line and a non-zero exit."""

from __future__ import annotations

import sys

import typer

from rollout.cli import analysis_commands, gitops_commands, prometheus_commands, run_commands, spec_commands
from rollout.cli import controller_commands
from rollout.cli.output import err_console

app = typer.Typer(
    name="meshroll",
    help="Progressive delivery and chaos for service meshes, judged with anytime-valid statistics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spec_commands.register(app)
run_commands.register(app)
analysis_commands.register(app)
prometheus_commands.register(app)
gitops_commands.register(app)
controller_commands.register(app)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("meshroll: interrupted")
        sys.exit(130)
