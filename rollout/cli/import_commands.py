"""``meshroll import``: Flagger Canaries and Argo Rollouts as meshroll Experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.output import check_folder_path, err_console, fail
from rollout.files import write_output
from rollout.importers import ImporterError, engine_problem, import_files


def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Flagger or Argo Rollouts YAML: the Canary/Rollout and what it references (- reads standard input)."
        ),
    ],
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write the Experiments here (default: stdout).")] = (
        None
    ),
    engine: Annotated[
        str,
        typer.Option(help="sequential (compare canary with stable) or threshold (keep the peer's fixed ranges)."),
    ] = "sequential",
) -> None:
    """Translate Flagger Canaries and Argo Rollouts into Experiments; what does not translate is listed on stderr."""
    if (problem := engine_problem(engine)) is not None:
        fail(problem)
    if out is not None and out.resolve() in {f.resolve() for f in files}:
        fail(f"-o {out}: is one of the files being imported; writing there would replace it: give another file")
    if out is not None:
        check_folder_path(out.parent, "-o", out)
        if not out.parent.is_dir():  # a typo in the path creates no folders
            fail(f"-o {out}: the folder {out.parent} does not exist; create it first, or write to a folder that exists")
    try:
        result = import_files(files, engine)
    except ImporterError as exc:
        fail(str(exc))
    if out is not None:  # written before the notes are printed: a file it cannot write ends in one line
        try:
            write_output(out, result.text)
        except OSError as exc:
            fail(f"-o {out}: cannot write there ({exc.strerror or exc}); choose a file you can write to")
    for line in dict.fromkeys(result.notes):
        err_console.print(line, markup=False, soft_wrap=True)
    if out is None:
        typer.echo(result.text, nl=False)
        return
    err_console.print(f"{out}: wrote {', '.join(result.keys)}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command(name="import")(import_)
