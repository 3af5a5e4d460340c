"""What a new branch tip asks for. Pure: file listings, state records and parsed files in; decisions out.

Exactly-once rests on content, not on commit ids: a file is acted on when its content (blob id)
differs from the content last acted on from that path (``SourceState``). So a restart repeats
nothing, several commits between two polls start only the newest content, and a force-push that
merely rewrote commit ids (amend, rebase) starts nothing again.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rollout.gitops.repo import CommitInfo
from rollout.gitops.state import SourceState
from rollout.spec.loader import load_experiments_and_documents
from rollout.spec.models import Experiment
from rollout.status import SOURCE_ANNOTATIONS

SUFFIXES = (".yaml", ".yml")


def normalize_path(path: str) -> str:
    """``experiments/`` -> ``experiments``; ``.``, ``./`` and ``/`` -> the whole repository ("")."""
    cleaned = path.strip().strip("/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return "" if cleaned in ("", ".") else cleaned


def leaves_repository(path: str) -> bool:
    """Whether ``path`` climbs out of the repository (``../deploy``, ``a/../../b``)."""
    return ".." in normalize_path(path).split("/")


def experiment_files(files: Mapping[str, str]) -> dict[str, str]:
    """The YAML files among ``files`` (path -> blob)."""
    return {p: b for p, b in files.items() if p.endswith(SUFFIXES)}


@dataclass(frozen=True)
class Changes:
    changed: tuple[str, ...]  # new files, and files whose content differs from what was acted on
    removed: tuple[str, ...]  # files acted on before that the tip no longer has


def changes(tip_files: Mapping[str, str], state: SourceState) -> Changes:
    changed = sorted(p for p, blob in tip_files.items() if (r := state.files.get(p)) is None or r.blob != blob)
    removed = sorted(p for p in state.files if p not in tip_files)
    return Changes(tuple(changed), tuple(removed))


def is_force_push(last: str | None, last_known: bool, last_is_ancestor: bool) -> bool:
    """The branch was rewritten: the last processed commit is gone or no longer behind the tip."""
    return last is not None and (not last_known or not last_is_ancestor)


@dataclass(frozen=True)
class Action:
    kind: Literal["start", "update"]  # start: a new rollout (new experiment or canary version); update: same one
    key: str
    canary: str
    reason: str


def actions_for(
    path: str, found: Sequence[tuple[str, str]], state: SourceState, unsettled: Collection[str] = ()
) -> tuple[list[Action], list[str]]:
    """The actions for one valid file's experiments (key, canary version), or the problems that forbid them.

    ``unsettled``: files whose records are about to change in this poll (removed, or changed and
    not yet processed); an experiment they claim may move to ``path``.
    """
    problems: list[str] = []
    keys = [key for key, _ in found]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problems.append(f"{path}:1:1 metadata.name: experiment {key} is defined twice in this file; keep one")
    for key in conflicts(path, found, state, unsettled):
        problems.append(
            f"{path}:1:1 metadata.name: experiment {key} is already started from {state.owner(key)}; "
            "give this one another name or namespace, or remove it from one of the files"
        )
    if problems:
        return [], problems
    actions = []
    for key, canary in found:
        owner = state.owner(key)
        previous = state.files[owner].experiments.get(key) if owner is not None else None
        if previous is None:
            actions.append(Action("start", key, canary, "new experiment"))
        elif previous != canary:
            actions.append(Action("start", key, canary, f"canary version {previous} -> {canary}"))
        else:
            actions.append(Action("update", key, canary, f"spec changed (canary still {canary})"))
    return actions, []


def conflicts(
    path: str, found: Sequence[tuple[str, str]], state: SourceState, unsettled: Collection[str] = ()
) -> list[str]:
    """The keys among ``found`` already started from another file that is not changing in this poll."""
    return [
        key for key, _ in found if (owner := state.owner(key)) is not None and owner != path and owner not in unsettled
    ]


def unblocked(state: SourceState) -> list[str]:
    """Files refused for experiments another file held, now that no other file holds them: to process again."""
    return sorted(
        path
        for path, record in state.files.items()
        if record.conflicts and all(state.owner(key) in (None, path) for key in record.conflicts)
    )


@dataclass(frozen=True)
class ExperimentFile:
    experiments: list[Experiment]  # validated
    documents: list[dict[str, Any]]  # as written, one per experiment: what is applied, with provenance added


def parse_experiment_file(text: str, path: str) -> ExperimentFile:
    """A file's experiments and their documents; SpecError with ``FILE:LINE:COL`` problems."""
    experiments, loaded = load_experiments_and_documents(text, path)
    return ExperimentFile(experiments, loaded)


def provenance(commit: CommitInfo, repo: str, path: str) -> dict[str, str]:
    values = {"commit": commit.sha, "author": commit.author, "message": commit.message, "repo": repo, "path": path}
    return {SOURCE_ANNOTATIONS[field]: value for field, value in values.items()}


def annotate(document: Mapping[str, Any], commit: CommitInfo, repo: str, path: str) -> dict[str, Any]:
    """A copy of an Experiment document whose annotations name the commit it came from."""
    result = copy.deepcopy(dict(document))
    metadata = result.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), **provenance(commit, repo, path)}
    return result
