"""Commands around the decision engines: oracle, bench, plan, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.output import console, fail

oracle_app = typer.Typer(help="Check an engine against an external oracle's test cases.", no_args_is_help=True)


@oracle_app.command("kayenta")
def oracle_kayenta(
    file: Annotated[Path, typer.Argument(help="Cases in the format of kayenta-cases.json.")],
) -> None:
    """Run every case of a Kayenta oracle file; print each failure, then 'N passed, M failed'."""
    from analysis.kayenta.oracle import OracleFileError, format_report, run_oracle_file

    try:
        report = run_oracle_file(file)
    except OracleFileError as exc:
        fail(str(exc))
    for line in format_report(report):
        console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(1 if report.failed else 0)


def register(app: typer.Typer) -> None:
    app.add_typer(oracle_app, name="oracle")
