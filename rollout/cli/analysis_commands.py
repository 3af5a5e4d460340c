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
    from analysis.kayenta.errors import OracleFileError
    from analysis.kayenta.oracle import format_report, run_oracle_file

    try:
        report = run_oracle_file(file)
    except OracleFileError as exc:
        fail(str(exc))
    for line in format_report(report):
        console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(1 if report.failed else 0)


def report(
    status_file: Annotated[Path, typer.Argument(help="A status JSON written by 'meshroll run --status-out'.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the HTML page.")] = Path("report.html"),
    title: Annotated[str | None, typer.Option(help="The page title (default: the file name).")] = None,
) -> None:
    """Render one self-contained HTML page for a finished or running experiment."""
    from pydantic import ValidationError

    from rollout.report import write_report
    from rollout.status import Status

    try:
        status = Status.model_validate_json(status_file.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"{status_file}: cannot read it ({exc.strerror or exc})")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        hint = "write one with 'meshroll run --status-out'"
        fail(f"{status_file}: not a meshroll status ({where}: {first['msg']}); {hint}")
    try:
        path = write_report(status, title or status_file.stem, output)
    except OSError as exc:
        fail(f"{output}: cannot write the report ({exc.strerror or exc})")
    console.print(f"report: {path}", markup=False)


def register(app: typer.Typer) -> None:
    app.add_typer(oracle_app, name="oracle")
    app.command()(report)
