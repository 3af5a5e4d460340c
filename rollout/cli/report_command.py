"""``meshroll report``: one HTML page from a status file or an Experiment object, in JSON or YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.output import check_folder_path, console, fail

HINT = "write one with 'meshroll run --status-out' or 'kubectl get experiment NAME -o json' (or -o yaml)"


MAX_YAML_DEPTH = 64  # a status or an Experiment object nests about 10 levels


class NotADocument(ValueError):
    """The file is neither JSON nor YAML; the message says where it stopped making sense."""


def report(
    status_file: Annotated[
        Path,
        typer.Argument(
            help="A status JSON written by 'meshroll run --status-out', or an Experiment "
            "('kubectl get experiment NAME -o json' or -o yaml) or its .status."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the HTML page.")] = Path("report.html"),
    title: Annotated[
        str | None, typer.Option(help="The page title (default: the Experiment's namespace/name, else the file name).")
    ] = None,
) -> None:
    """Render one self-contained HTML page for a finished or running experiment."""
    from pydantic import ValidationError

    from rollout.kube.document import status_of
    from rollout.report import write_report

    if output.resolve() == status_file.resolve():
        fail(f"-o {output}: is the status file being read; writing there would replace it: give another file")
    check_folder_path(output.parent, "-o", output)
    try:
        document = read_document(status_file.read_text(encoding="utf-8-sig"))
        foreign = _foreign_kind(document)
        if foreign is not None:
            fail(f"{status_file}: {foreign}")
        status = status_of(document)
    except RecursionError:
        fail(f"{status_file}: not a meshroll status (it is nested too deeply); {HINT}")
    except OSError as exc:
        fail(f"{status_file}: cannot read it ({exc.strerror or exc})")
    except UnicodeDecodeError as exc:
        fail(f"{status_file}: not UTF-8 text (byte {exc.start}); {HINT}")
    except NotADocument as exc:
        fail(f"{status_file}: {exc}; {HINT}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        fail(f"{status_file}: not a meshroll status ({where}: {first['msg']}); {HINT}")
    except ValueError as exc:  # status_of: the top level is no object (ValidationError is one too: caught above)
        fail(f"{status_file}: not a JSON or YAML object ({exc}); {HINT}")
    if status is None:
        fail(f"{status_file}: {_why_nothing(document)}; nothing to report")
    try:
        path = write_report(status, title or experiment_name(document) or status_file.stem, output)
    except OSError as exc:
        fail(f"-o {output}: cannot write the report there ({exc.strerror or exc}); choose a file you can write to")
    console.print(f"report: {path}", markup=False)


def read_document(text: str) -> object:
    """The JSON document in ``text``, else its YAML document (``kubectl get -o yaml``). NotADocument when
    it is neither, or a YAML document no status or Experiment looks like (aliases, deep nesting)."""
    import yaml

    if not text.strip():
        raise NotADocument("the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        json_problem = f"line {exc.lineno} column {exc.colno}: {exc.msg}"
    try:
        return _yaml_document(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        yaml_problem = f"{where}{exc.problem or exc.context}"
    except yaml.YAMLError as exc:
        yaml_problem = " ".join(str(exc).split())
    looks_like_json = text.lstrip().startswith(("{", "["))
    raise NotADocument(f"neither JSON nor YAML ({json_problem if looks_like_json else yaml_problem})")


def _yaml_document(text: str) -> object:
    """The YAML document, read with libyaml when it is there; its events are checked first (libyaml's
    loader recurses in C, where a deep document crashes the process instead of raising)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            raise NotADocument("not a status: it uses YAML aliases (*name), which kubectl never writes")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise NotADocument(f"not a status: it is nested more than {MAX_YAML_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.load(text, Loader=loader)  # a safe loader: plain data only


def _is_experiment(document: object) -> bool:
    return isinstance(document, dict) and (document.get("kind") == "Experiment" or "spec" in document)


def experiment_name(document: object) -> str | None:
    """``namespace/name`` of an Experiment object (its name alone when it has no namespace); None for a status."""
    if not _is_experiment(document) or not isinstance(document, dict):
        return None
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        return None
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if isinstance(namespace, str) and namespace else metadata["name"]


def _why_nothing(document: object) -> str:
    """Why a document holds no run to report."""
    if _is_experiment(document):
        name = experiment_name(document)
        return (
            f"the Experiment {name} has not started a run yet" if name else "the Experiment has not started a run yet"
        )
    return (
        "an empty object, neither a status file nor an Experiment (an Experiment's .status is empty until its "
        "first run)"
    )


def _foreign_kind(document: object) -> str | None:
    """What is wrong with a Kubernetes object that is no Experiment (None: an Experiment, or no object at all)."""
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        return None
    kind, api = document["kind"], document.get("apiVersion")
    if kind == "Experiment":
        return None
    if kind == "List" or kind.endswith("List"):
        return f"a {kind} of objects; give one Experiment: kubectl get experiment NAME -o json"
    return f"a {kind} ({api}), not a meshroll Experiment or its status"
