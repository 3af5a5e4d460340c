"""Learning how the runs the trigger started ended: a local run's ``status.json``, or the Experiment's ``.status``.

A reader answers, for a watched run, ``None`` (still under way, or not known yet: ask again at the
next poll), an ``Outcome``, or ``Gone`` (it will never have one: no note). ``before_replace`` and
``after_replace`` read the status of a run a newer commit is replacing (a GET before the replace
in the cluster; the status the stopped local run left, after it).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from rollout.gitops.apply import RUN_OUTCOMES, ClusterApplier, LocalStarter, StartError
from rollout.gitops.outbox import Watched
from rollout.gitops.outcome import Outcome, from_status
from rollout.kube.document import split, status_of
from rollout.status import SOURCE_ANNOTATIONS, Status

log = logging.getLogger("meshroll.gitops")


@dataclass(frozen=True)
class Gone:
    """The run will never report an end here (its Experiment was deleted): said in the log, no note."""

    why: str


Resolution = Outcome | Gone


class OutcomeReader(Protocol):
    def refresh(self) -> None: ...
    def note_exits(self, ended: list[tuple[str, int]]) -> None: ...
    def ended(self, run: Watched) -> Resolution | None: ...
    def before_replace(self, run: Watched) -> Status | None: ...
    def after_replace(self, run: Watched) -> Status | None: ...


def _read_status(file: Path) -> Status | None:
    try:
        return status_of(json.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, ValidationError) as exc:
        log.warning("cannot read %s (%s)", file, type(exc).__name__)
        return None


def _ours(status: Status | None, commit: str) -> bool:
    return status is not None and (status.source is None or status.source.commit in ("", commit))


class LocalOutcomes:
    """The ``meshroll run`` processes of a ``LocalStarter``: ended once gone; their ``status.json`` says how."""

    def __init__(self, starter: LocalStarter) -> None:
        self.starter = starter
        self.codes: dict[str, int] = {}  # key -> exit code of the run that ended

    def folder(self, key: str) -> Path:
        namespace, _, name = key.partition("/")
        return self.starter.work_dir / "runs" / f"{namespace}.{name}"

    def refresh(self) -> None:
        self.note_exits(self.starter.reap())

    def note_exits(self, ended: list[tuple[str, int]]) -> None:
        self.codes.update(ended)

    def ended(self, run: Watched) -> Resolution | None:
        if run.key in self.starter.runs:
            return None  # its process is still running
        status = _read_status(self.folder(run.key) / "status.json")
        code = self.codes.pop(run.key, None)
        if _ours(status, run.commit) and status is not None and status.phase.terminal:
            return from_status(run.key, run.commit, status, run.path)
        said = RUN_OUTCOMES.get(code, "error") if code is not None else "error"
        exit_text = f"exit {code}" if code is not None else "the trigger restarted meanwhile"
        where = (
            f"; it was {status.phase.value} at step {status.step + 1}" if _ours(status, run.commit) and status else ""
        )
        reason = f"the run ended without a final status ({exit_text}{where}); see {self.folder(run.key) / 'run.log'}"
        return Outcome(run.key, run.commit, said, reason, path=run.path)

    def before_replace(self, run: Watched) -> Status | None:
        return None

    def after_replace(self, run: Watched) -> Status | None:
        """The status the stopped run left (``LocalStarter.start`` keeps it as ``status.previous.json``)."""
        status = _read_status(self.folder(run.key) / "status.previous.json")
        return status if _ours(status, run.commit) else None


class ClusterOutcomes:
    """Experiments in the cluster: one GET each per poll, matched to the commit and generation applied."""

    def __init__(self, applier: ClusterApplier) -> None:
        self.applier = applier

    def refresh(self) -> None:
        pass

    def note_exits(self, ended: list[tuple[str, int]]) -> None:
        pass

    def _get(self, run: Watched) -> dict[str, Any] | StartError | None:
        namespace, _, name = run.key.partition("/")
        try:
            return self.applier.read(namespace, name)
        except StartError as exc:
            return exc

    def ended(self, run: Watched) -> Resolution | None:
        found = self._get(run)
        if isinstance(found, StartError):
            log.warning("cannot learn how %s ended: %s; will ask again at the next poll", run.key, found)
            return None
        if found is None:
            return Gone(f"{run.key} was deleted before its run from {run.commit[:8]} ended")
        annotations = (found.get("metadata") or {}).get("annotations") or {}
        applied = annotations.get(SOURCE_ANNOTATIONS["commit"])
        if applied not in (None, run.commit):
            reason = f"replaced by commit {str(applied)[:8]} outside this trigger before it ended"
            return Outcome(run.key, run.commit, "superseded", reason, path=run.path)
        stored = split(found.get("status") if isinstance(found.get("status"), dict) else None)
        if run.generation is not None and stored.info.generation < run.generation:
            return None  # the controller has not started the run of the generation applied yet
        status = stored.status
        if status is None or not _ours(status, run.commit) or not status.done:
            return None  # under way (a later generation edited outside git, from the same commit, is followed too)
        return from_status(run.key, run.commit, status, run.path)

    def before_replace(self, run: Watched) -> Status | None:
        found = self._get(run)
        if not isinstance(found, dict) or not isinstance(found.get("status"), dict):
            return None
        status = split(found["status"]).status
        return status if _ours(status, run.commit) else None

    def after_replace(self, run: Watched) -> Status | None:
        return None
