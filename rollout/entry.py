"""The ``meshroll`` console script: the CLI, and a Ctrl-C while it is still being imported said in one line."""

from __future__ import annotations

import sys

INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (as rollout.cli's)


def main() -> None:
    try:
        from rollout.cli import main as cli
    except KeyboardInterrupt:  # before the CLI exists to say it: nothing has been done yet
        sys.stderr.write("meshroll: interrupted\n")
        sys.exit(INTERRUPTED)
    cli()
