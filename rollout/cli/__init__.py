"""The ``meshroll`` command line. User mistakes end in one clear line and a non-zero exit."""

from __future__ import annotations

import errno
import os
import sys

import typer

import rollout.cli.controller_commands as controller_commands
from rollout.cli import (
    analysis_commands,
    chaos_commands,
    gitops_commands,
    import_commands,
    prometheus_commands,
    run_commands,
    spec_commands,
)
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
chaos_commands.register(app)
prometheus_commands.register(app)
gitops_commands.register(app)
gitops_commands.register_bench(analysis_commands.bench_app)
controller_commands.register(app)
controller_commands.register_bench(analysis_commands.bench_app)
import_commands.register(app)


PIPE_COLUMNS = 120  # the width of help and tables written to a pipe or a file
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT


def _usage_hint(exc: Exception) -> str:
    context = getattr(exc, "ctx", None)
    path = getattr(context, "command_path", "meshroll") or "meshroll"
    return f"; see '{path} --help'"


def _plain(message: str) -> str:
    """A usage error as the user reads it: without the "Value error, " that pydantic (under typer's
    conversions) puts before the reason, nor click's full stop (the hint follows)."""
    return message.replace(": Value error, ", ": ").rstrip(".")


def main() -> None:
    """Console entry point. A usage mistake exits 1: 2 means "rolled back" here, not click's usage error."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        os.environ["COLUMNS"] = str(PIPE_COLUMNS)  # rich's 80 in a pipe cuts option names short in --help
    try:
        code = app(standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("meshroll: interrupted")
        sys.exit(INTERRUPTED)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):  # a full disk the user can clear; any other: a bug
            raise
        err_console.print(
            f"meshroll: cannot write the output ({exc.strerror}); free some space or write elsewhere",
            markup=False,
            soft_wrap=True,
        )
        sys.exit(1)
    except Exception as exc:
        format_message = getattr(exc, "format_message", None)
        if not callable(format_message):  # not a command-line mistake: a bug, shown as one
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # "meshroll" or "meshroll bench" alone: the help, as --help
            typer.echo(format_message(), nl=False)  # empty when rich has printed it already
            sys.exit(0)
        message = _plain(str(format_message()))
        err_console.print(f"meshroll: {message}{_usage_hint(exc)}", markup=False, soft_wrap=True)
        sys.exit(1)
    if code == INTERRUPTED:  # typer turns a Ctrl-C outside a run into this exit code, silently
        err_console.print("meshroll: interrupted")
    sys.exit(code if isinstance(code, int) else 0)
