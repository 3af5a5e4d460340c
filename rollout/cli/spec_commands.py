"""``meshroll validate`` and ``meshroll schema``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.output import console, err_console, fail
from rollout.spec.loader import MAX_FILE_BYTES, LoadedFile, SpecError, load_bytes, load_file
from rollout.spec.models import Experiment


def experiment_files(paths: list[Path]) -> list[Path]:
    """The files named, with folders expanded to the YAML files inside them; a file named twice (or
    named beside its folder) is read once."""
    files: list[Path] = []
    for path in paths:
        if path != STDIN and path.is_dir():
            found = sorted([*path.rglob("*.yaml"), *path.rglob("*.yml")])
            if not found:
                fail(f"{path}: the folder holds no .yaml or .yml files")
            files.extend(found)
        else:
            files.append(path)
    first: dict[Path, Path] = {}
    for file in files:
        first.setdefault(file if file == STDIN else file.resolve(), file)
    return list(first.values())


STDIN = Path("-")


def _from_stdin() -> LoadedFile:
    """The experiments piped in (``helm template ... | meshroll validate -``), named ``-`` in problems."""
    return load_bytes(sys.stdin.buffer.read(MAX_FILE_BYTES + 1), "-")


def validate(
    files: Annotated[
        list[Path], typer.Argument(help="Experiment YAML files or folders of them; - reads standard input.")
    ],
) -> None:
    """Check experiment files; print every problem as FILE:LINE:COL path: message (and every note on a valid
    file as a warning, which leaves the exit code alone)."""
    from analysis.engines import plugin_problems

    for ignored in plugin_problems():  # ignored plugins are said, never silently shadowed
        err_console.print(f"warning: {ignored}", markup=False, soft_wrap=True)
    bad = 0
    defined: dict[str, Path] = {}  # experiment key -> the first file that defines it
    for file in experiment_files(files):
        try:
            loaded = _from_stdin() if file == STDIN else load_file(file)
        except SpecError as exc:
            bad += 1
            for problem in exc.problems:
                err_console.print(str(problem), markup=False, soft_wrap=True)
            continue
        experiments = loaded.experiments
        twice = [(e.key, defined[e.key]) for e in experiments if e.key in defined]
        for key, first in twice:  # as the GitOps trigger would refuse the second file
            err_console.print(
                f"{file}:1:1 metadata.name: experiment {key} is also defined in {first}; give one of them another "
                "name or namespace",
                markup=False,
                soft_wrap=True,
            )
        if twice:
            bad += 1
            continue
        defined.update((e.key, file) for e in experiments)
        names = ", ".join(e.key for e in experiments)
        console.print(f"{file}: ok ({names})", markup=False)
        for note in loaded.notes:
            err_console.print(f"warning: {note}", markup=False, soft_wrap=True)
        for note in loaded.usage_notes:  # where the file can run and what it needs there: for information
            err_console.print(f"note: {note}", markup=False, soft_wrap=True)
    if bad:
        raise typer.Exit(1)


def schema() -> None:
    """Print the JSON Schema of an Experiment."""
    document = Experiment.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["$id"] = "https://meshroll.io/schemas/experiment-v1alpha1.json"
    console.print_json(json.dumps(document))


def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command()(schema)
