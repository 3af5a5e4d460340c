"""``meshroll gitops --write-back``: each run the trigger started, once ended, is written back to git.

- ``notes``: a line on the starting commit's note under ``refs/notes/meshroll`` (appended: several
  experiments can start from one commit), pushed to the remote; ``git log --notes=meshroll`` shows it.
- ``revert-branch``: for a rollback only, a branch ``meshroll/revert/<ns>.<name>-<shortsha>`` holding
  one commit on the watched branch's tip that reverts the starting commit's change to the rolled-back
  experiment's file (and nothing else it changed), for a pull request. A revert that does not apply
  cleanly pushes nothing and is reported (log, announcements), naming the file. Each pushed branch
  leaves a mark (``gitwrite.PUSHED_REFS``) so that one deleted unmerged is never pushed again.

The runs watched and the outcomes not yet written live in the state file (``outbox``), saved at every
change, so a push that fails (remote down, refused, no credentials) is retried at the next poll and a
restart loses none; a retry writes nothing twice (the note's line is looked for, the branch's
existence on the remote checked). ``TrackingStarter`` wraps the starter so that every start is
watched and a run replaced by a newer commit's is settled (``superseded``, or its own end if it had
already ended).
"""

from __future__ import annotations

import logging

from rollout.gitops.apply import Starter, StartRequest
from rollout.gitops.errors import GitError, GitOpsError
from rollout.gitops.gitwrite import GitWriter, RevertResult
from rollout.gitops.outbox import SECTION, Outbox, Watched
from rollout.gitops.outcome import Outcome, superseded
from rollout.gitops.sync import GitOpsSync, PollResult
from rollout.gitops.watch import Gone, OutcomeReader
from rollout.status import SOURCE_ANNOTATIONS, Status

log = logging.getLogger("meshroll.gitops")


def attach(kinds: frozenset[str], sync: GitOpsSync, reader: OutcomeReader) -> WriteBack:
    """A write-back of ``sync``'s runs, its starter wrapped so that every start is watched; call its
    ``after_poll`` after each poll."""
    writeback = WriteBack(kinds, sync, reader)
    sync.starter = writeback.wrap(sync.starter)
    return writeback


class WriteBack:
    def __init__(self, kinds: frozenset[str], sync: GitOpsSync, reader: OutcomeReader) -> None:
        self.kinds = kinds
        self.sync = sync
        self.reader = reader
        self.writer = GitWriter(sync.repo, sync.branch)
        try:
            self.outbox = Outbox.from_raw(sync.state.load_section(SECTION, sync.source))
        except ValueError as exc:
            raise GitOpsError(
                f"the state file {sync.state.path} cannot be used: {exc}; fix it, or delete its "
                f'"{SECTION}" key (the outcomes not yet written back are then lost)'
            ) from None

    def wrap(self, starter: Starter) -> TrackingStarter:
        """``starter``, with every start watched; give it to the ``GitOpsSync`` (its ``starter``)."""
        return TrackingStarter(starter, self)

    # --- watching runs -------------------------------------------------------------------------

    def started(self, request: StartRequest, commit: str, generation: int | None, before: Status | None) -> None:
        key = request.experiment.key
        old = self.outbox.watched.get(key)
        if old is not None and old.commit != commit:
            status = before if before is not None else self.reader.after_replace(old)
            self._settle(superseded(key, old.commit, commit, status, old.path))
        self.outbox.watched[key] = Watched(key, commit, request.path, generation)
        self._save()

    def after_poll(self, _result: PollResult | None = None) -> bool:
        """Learn which watched runs ended, then write what is due; True when nothing is left to write."""
        self.collect()
        return self.flush()

    def collect(self) -> None:
        self.reader.refresh()
        changed = False
        for run in list(self.outbox.watched.values()):
            resolution = self.reader.ended(run)
            if resolution is None:
                continue
            del self.outbox.watched[run.key]
            changed = True
            if isinstance(resolution, Gone):
                log.info("%s: nothing to write back", resolution.why)
            else:
                self._settle(resolution)
        if changed:
            self._save()

    def _settle(self, outcome: Outcome) -> None:
        log.info("run of %s from %s ended: %s", outcome.key, outcome.commit[:8], outcome.line)
        self.outbox.add(outcome, self.kinds)

    def _save(self) -> None:
        self.sync.state.save_section(SECTION, self.sync.source, self.outbox.raw())

    # --- writing -------------------------------------------------------------------------------

    def flush(self) -> bool:
        """Write every pending outcome that can be written now; what fails stays for the next poll."""
        notes = self.outbox.due("notes")
        if notes:
            try:
                written = self.writer.write_notes(notes)
            except GitError as exc:
                log.error("outcomes not written back yet (%d): %s; will retry at the next poll", len(notes), exc)
            else:
                for outcome in notes:
                    self.outbox.done(outcome, "notes")
                for outcome in written:
                    log.info("note on %s (%s): %s", outcome.commit[:8], "refs/notes/meshroll", outcome.line)
                self._save()
        for outcome in self.outbox.due("revert-branch"):
            try:
                result = self.writer.push_revert(outcome)
            except GitError as exc:
                log.error("revert branch for %s not pushed yet: %s; will retry at the next poll", outcome.key, exc)
                continue
            self._report(outcome, result)
            self.outbox.done(outcome, "revert-branch")
            self._save()
        return not self.outbox.pending

    def _report(self, outcome: Outcome, result: RevertResult) -> None:
        reporter, where = self.sync.reporter, f"{self.sync.repo.display}"
        if result.kind == "pushed":
            left = f" (its other changes, to {_some(result.left)}, stay)" if result.left else ""
            reporter.notice(
                logging.INFO,
                ":leftwards_arrow_with_hook:",
                f"Revert branch {result.branch} pushed",
                [
                    f"{outcome.key} rolled back: {outcome.line.split(': ', 2)[-1]}",
                    f"{result.branch} on {where} reverts {outcome.change} on top of {self.sync.branch}{left}; "
                    f"open a pull request from it into {self.sync.branch} to bring git back to what runs",
                ],
            )
        elif result.kind == "exists":
            already = result.detail or "it is already there"
            log.info("revert branch %s not pushed again to %s: %s", result.branch, where, already)
        else:
            why = result.detail
            if result.kind == "conflict":
                why = f"the revert of {outcome.change} does not apply cleanly on {self.sync.branch}"
                why += f" ({result.detail})" if result.detail else ""
            reporter.notice(
                logging.WARNING,
                ":warning:",
                f"No revert branch for {outcome.key}",
                [
                    f"{outcome.key} rolled back ({outcome.commit[:8]}), but {why}",
                    f"nothing was pushed; revert {outcome.change} by hand on {self.sync.branch}"
                    if result.kind == "conflict"
                    else "nothing was pushed",
                ],
            )


def _some(paths: tuple[str, ...], shown: int = 3) -> str:
    """``a, b, c and 2 more``."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


class TrackingStarter:
    """A starter whose every successful start is watched by a ``WriteBack``."""

    def __init__(self, inner: Starter, writeback: WriteBack) -> None:
        self.inner = inner
        self.writeback = writeback

    def start(self, request: StartRequest) -> None:
        annotations = request.manifest.get("metadata", {}).get("annotations") or {}
        commit = str(annotations.get(SOURCE_ANNOTATIONS["commit"], ""))
        old = self.writeback.outbox.watched.get(request.experiment.key)
        reader = self.writeback.reader
        before = reader.before_replace(old) if old is not None and old.commit != commit else None
        self.inner.start(request)
        applied = getattr(self.inner, "applied", None)
        generation = applied.get(request.experiment.key) if isinstance(applied, dict) else None
        self.writeback.started(request, commit, generation, before)
