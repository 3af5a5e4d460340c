"""Load Experiments from YAML, reporting every problem as ``FILE:LINE:COL path: message``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rollout.spec.checks import cross_check
from rollout.spec.messages import error_path, format_path, friendly
from rollout.spec.models import Experiment
from rollout.spec.notes import notes as experiment_notes
from rollout.spec.notes import usage_notes as experiment_usage_notes
from rollout.spec.positions import MAX_DEPTH, PositionMap, map_positions, shape_problem

MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class SpecProblem:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column} {self.path}: {self.message}"


class SpecError(Exception):
    """An experiment file that cannot be used; ``problems`` lists every reason, in file order."""

    def __init__(self, problems: list[SpecProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class LoadedFile:
    """A valid experiment file: its Experiments, the YAML documents they came from, and its notes (advice that
    does not stop it, such as a fault a metric cannot see: ``rollout.spec.notes``), in file order. Every command
    that reads the file prints ``notes`` (as warnings); ``usage_notes`` say where it can run and what it needs
    there, which ``meshroll validate`` prints as notes and ``meshroll run`` does not."""

    experiments: list[Experiment]
    documents: list[Any]
    notes: list[SpecProblem]
    usage_notes: list[SpecProblem] = field(default_factory=list)


def load_experiment(path: Path | str) -> Experiment:
    """The single Experiment in ``path``; SpecError on any problem (a file with several: the first)."""
    return load_file(path).experiments[0]


def load_file(path: Path | str) -> LoadedFile:
    """A (possibly multi-document) YAML file's Experiments and notes; SpecError on any problem."""
    name = str(path)
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise SpecError([SpecProblem(name, 1, 1, "(file)", "file is larger than 1 MiB; is this an experiment?")])
        data = file.read_bytes()
    except FileNotFoundError:
        raise SpecError([SpecProblem(name, 1, 1, "(file)", "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([SpecProblem(name, 1, 1, "(file)", "is a folder; name the YAML files in it")]) from None
    except OSError as exc:
        raise SpecError([SpecProblem(name, 1, 1, "(file)", f"cannot be read: {exc.strerror or exc}")]) from None
    return load_bytes(data, name)


def load_bytes(data: bytes, name: str) -> LoadedFile:
    """The Experiments and notes of a YAML document read whole (a file's, or standard input's), named ``name``."""
    if len(data) > MAX_FILE_BYTES:
        raise SpecError([SpecProblem(name, 1, 1, "(file)", "file is larger than 1 MiB; is this an experiment?")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"is not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); save it as UTF-8"
        raise SpecError([SpecProblem(name, 1, 1, "(file)", message)]) from None
    return _load_text(text, name, engines_here=True)


def load_experiment_text(text: str, name: str = "<text>", *, engines_here: bool = True) -> Experiment:
    """``engines_here``: also check that ``analysis.engine`` can be had here (an engine plugin installed)."""
    return load_experiments_and_documents(text, name, engines_here=engines_here)[0][0]


def load_experiments_text(text: str, name: str = "<text>") -> list[Experiment]:
    return load_experiments_and_documents(text, name)[0]


def load_experiments_and_documents(
    text: str, name: str = "<text>", *, engines_here: bool = True
) -> tuple[list[Experiment], list[Any]]:
    """The experiments of a file and the non-empty YAML documents they came from, from one read of it."""
    loaded = _load_text(text, name, engines_here=engines_here)
    return loaded.experiments, loaded.documents


def _load_text(text: str, name: str, *, engines_here: bool) -> LoadedFile:
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        for node in nodes:
            shape = shape_problem(node) if node is not None else None
            if node is not None and shape is not None:
                line, col = node.start_mark.line + 1, node.start_mark.column + 1
                raise SpecError([SpecProblem(name, line, col, "(document)", shape)])
        constructor = yaml.SafeLoader("")  # builds each checked node as safe_load_all would, without reading again
        documents = [None if node is None else constructor.construct_document(node) for node in nodes]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "'\\t'" in problem:
            problem += "; indent with spaces"
        raise SpecError([SpecProblem(name, line, col, "(yaml)", f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(name, 1, 1, "(yaml)", f"YAML error: {exc}")]) from None
    except RecursionError:
        message = f"values are nested more than {MAX_DEPTH} levels deep; an experiment needs far fewer"
        raise SpecError([SpecProblem(name, 1, 1, "(document)", message)]) from None
    pairs = [(n, d) for n, d in zip(nodes, documents, strict=True) if d is not None]
    if not pairs:
        raise SpecError(
            [
                SpecProblem(
                    name,
                    1,
                    1,
                    "(document)",
                    "the file is empty; an Experiment starts with apiVersion: meshroll.io/v1alpha1",
                )
            ]
        )
    experiments: list[Experiment] = []
    problems: list[SpecProblem] = []
    notes: list[SpecProblem] = []
    usage_notes: list[SpecProblem] = []
    for node, data in pairs:
        positions = map_positions(node)
        try:
            experiment = _validate_document(data, positions, name, engines_here)
        except SpecError as exc:
            problems.extend(exc.problems)
            continue
        if any(e.key == experiment.key for e in experiments):
            path = ("metadata", "name")
            message = f"experiment {experiment.key} is defined twice in this file; give each its own name"
            problems.append(SpecProblem(name, *positions.locate(path), format_path(path), message))
        experiments.append(experiment)
        notes += [SpecProblem(name, *positions.locate(p), format_path(p), m) for p, m in experiment_notes(experiment)]
        usage_notes += [
            SpecProblem(name, *positions.locate(p), format_path(p), m) for p, m in experiment_usage_notes(experiment)
        ]
    if problems:
        raise SpecError(problems)
    return LoadedFile(experiments, [data for _, data in pairs], notes, usage_notes)


def _validate_document(data: object, positions: PositionMap, name: str, engines_here: bool = True) -> Experiment:
    def problem(path: tuple[str | int, ...], message: str) -> SpecProblem:
        line, col = positions.locate(path)
        return SpecProblem(name, line, col, format_path(path), message)

    found = [problem(path, f"key {key!r} is written twice; keep one") for path, key in positions.duplicates]
    if not isinstance(data, dict):
        raise SpecError([problem((), "an Experiment must be a mapping that starts with apiVersion and kind")])
    if (foreign := _foreign_object(data)) is not None:
        raise SpecError([*found, problem(("kind",), foreign)])
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            path = error_path(error, data)
            found.append(problem(path, friendly(error, Experiment, data, path)))
        raise SpecError(found) from None
    found.extend(problem(path, message) for path, message in cross_check(experiment, engines_here=engines_here))
    if found:
        raise SpecError(found)
    return experiment


def _foreign_object(data: dict[str, Any]) -> str | None:
    """Why a document is some other Kubernetes object (a ConfigMap beside the experiments), in one sentence
    rather than one schema error per field; None when it means to be an Experiment (a typo is left to the schema)."""
    kind, api = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api, str) or kind == "Experiment" or api.startswith("meshroll.io/"):
        return None
    return (
        f"this is a {kind} ({api}), not a meshroll Experiment (apiVersion: meshroll.io/v1alpha1, kind: Experiment); "
        "keep other objects out of experiment files and folders"
    )
