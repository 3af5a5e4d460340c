"""One poll: fetch the branch, find the experiment files whose content is new, validate, start, record.

Policies (see ``trigger`` for the exactly-once rule):

- Force-push: detected when the last processed commit is gone or no longer an ancestor of the tip;
  logged and announced, then resynchronised against what was last acted on: every experiment file at
  the new tip whose content differs from what meshroll last started from that path is processed
  (as new when never seen); identical content is not started again although its commit id changed.
- Invalid file: reported (log and announcements, with the ``FILE:LINE:COL`` problems) once per
  content; nothing is started from it and what already runs from an earlier version is left alone.
  The other files of the same commit still proceed. A later commit that fixes the file triggers it.
- A start that fails for a reason that may pass (cluster unreachable) leaves the file unrecorded and
  the commit unprocessed, so the next poll tries again; one that cannot succeed is reported once.
- A removed file stops nothing: meshroll does not delete experiments; its record is forgotten.
- A file last changed by a commit with a ``Meshroll-Revert-Of: <sha>`` trailer (a revert branch that
  ``--write-back revert-branch`` pushed after a rollback, merged) is recorded as acted on, not started,
  when its content there is what it was before ``<sha>`` (at its first parent): the version the
  rollback already went back to. Any other file of that commit (a new one, one changed to a new
  version, one that did not exist before ``<sha>`` or when ``<sha>`` is a root commit or unknown) is
  processed as usual, and so is a later change to the reverted one.
- An experiment another file already started is refused (reported once); when that file lets it go
  (edited or removed), the refused file is processed again, with no new commit to it needed.

Cost: a poll reads the new contents through two git processes and every new file's commit through
one more (``GitRepo.last_commits``; a file whose commit lies behind the last poll's, such as one
unblocked, asks git alone), parses each file once, journals each file's record as soon as it was
acted on (``StateFile.record``), and writes the state file once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from rollout.gitops.apply import Starter, StartError, StartRequest
from rollout.gitops.errors import GitError
from rollout.gitops.outcome import TRAILER, reverted_of
from rollout.gitops.repo import CommitInfo, GitRepo
from rollout.gitops.state import FileRecord, SourceState, StateFile, source_id
from rollout.gitops.trigger import (
    Changes,
    ExperimentFile,
    actions_for,
    annotate,
    changes,
    conflicts,
    experiment_files,
    is_force_push,
    normalize_path,
    parse_experiment_file,
    unblocked,
)
from rollout.notify import Announcer
from rollout.spec.loader import SpecError, SpecProblem

log = logging.getLogger("meshroll.gitops")


@dataclass
class PollResult:
    tip: str
    forced: bool = False
    started: list[str] = field(default_factory=list)  # "key: reason"
    invalid: list[str] = field(default_factory=list)  # files with problems (nothing started from them)
    deferred: list[str] = field(default_factory=list)  # files to try again at the next poll
    removed: list[str] = field(default_factory=list)
    unmatched: bool = False  # the path holds no experiment file at the tip, and none was acted on from it before

    @property
    def clean(self) -> bool:
        return not self.invalid and not self.deferred


class Reporter:
    """Says what the trigger did: the log always, and GitOps-level announcements (Slack, webhook) when set."""

    def __init__(self, announcers: Sequence[Announcer] = ()) -> None:
        self.announcers = list(announcers)

    def _announce(self, emoji: str, title: str, lines: list[str]) -> None:
        for announcer in self.announcers:
            try:
                announcer.notice(emoji, title, lines)
            except Exception:  # an announcement never stops the trigger
                log.exception("announcing %r failed", title)

    def notice(self, level: int, emoji: str, title: str, lines: list[str]) -> None:
        """Log ``lines`` and announce them (the write-back's revert branches, and why one was not pushed). The
        log reads as one sentence (``warning: no revert branch for ...``); the announcement keeps its title."""
        log.log(level, "%s: %s", _sentence(title), "; ".join(lines))
        self._announce(emoji, title, lines)

    def force_push(self, where: str, old: str, tip: str, base: str | None) -> None:
        base_text = f"merge-base {base[:8]}" if base else "no common history with the old commit"
        lines = [
            f"last processed commit {old[:8]} is no longer an ancestor of the tip {tip[:8]} ({base_text})",
            "resynchronising: files whose content differs from what meshroll last started are processed again",
        ]
        log.warning("force-push detected on %s: %s", where, "; ".join(lines))
        self._announce(":warning:", f"Force-push detected on {where}", lines)

    def invalid(self, path: str, commit: CommitInfo, problems: list[str]) -> None:
        head = f"{path} in commit {commit.short} by {commit.author} is not a valid experiment; nothing started from it"
        log.error("%s:\n  %s", head, "\n  ".join(problems))
        self._announce(":x:", f"Invalid experiment file {path}", [head, *problems])

    def deferred(self, path: str, message: str) -> None:
        log.warning("%s: %s (will retry at the next poll)", path, message)

    def started(self, path: str, key: str, kind: str, reason: str, commit: CommitInfo) -> None:
        verb = "started" if kind == "start" else "updated"
        by = f"{commit.short} by {commit.author}"
        log.info("%s %s from %s (%s) at %s: %s", verb, key, path, reason, by, commit.subject)


def _sentence(title: str) -> str:
    """A title as the middle of a log line: ``No revert branch`` -> ``no revert branch`` (``GitOps ...`` stays)."""
    if len(title) > 1 and title[0].isupper() and not title[1].isupper():
        return title[0].lower() + title[1:]
    return title


class GitOpsSync:
    def __init__(
        self,
        repo: GitRepo,
        branch: str,
        path: str,
        state: StateFile,
        starter: Starter,
        reporter: Reporter | None = None,
        *,
        skip_existing: bool = False,
        parse: Callable[[str, str], ExperimentFile] = parse_experiment_file,
    ) -> None:
        self.repo = repo
        self.branch = branch
        self.path = normalize_path(path)
        self.state = state
        self.starter = starter
        self.reporter = reporter or Reporter()
        self.skip_existing = skip_existing
        self.parse = parse
        self._contents: dict[str, bytes] = {}  # blob -> bytes, read ahead for this poll
        self._commits: dict[str, CommitInfo] = {}  # path -> the commit it last changed in, found ahead for this poll
        self.source = source_id(repo.display, branch, self.path)
        self.where = f"{repo.display} branch {branch}"

    def poll(self) -> PollResult:
        """Process everything new on the branch; GitError when the repository cannot be read."""
        tip = self.repo.fetch(self.branch)
        state = self.state.load(self.source)
        result = PollResult(tip)
        if state.commit == tip:
            result.unmatched = not state.files  # a processed tip's files are all recorded (invalid ones too)
            return result
        ancestor = False
        if state.commit is not None:
            known = self.repo.has_commit(state.commit)
            ancestor = known and self.repo.is_ancestor(state.commit, tip)
            result.forced = is_force_push(state.commit, known, ancestor)
            if result.forced:
                base = self.repo.merge_base(state.commit, tip) if known else None
                self.reporter.force_push(self.where, state.commit, tip, base)
        tip_files = experiment_files(self.repo.files(tip, self.path))
        found = changes(tip_files, state)
        result.unmatched = not tip_files and not found.removed  # the caller says so (``unmatched_at``)
        self._contents = self.repo.read_blobs(tip_files[p] for p in found.changed)
        if found.changed and not self._baseline_due(state):
            since = state.commit if ancestor else None  # the commits behind it were read by earlier polls
            self._commits = self.repo.last_commits(tip, found.changed, self.path, since)
        try:
            return self._apply(tip, tip_files, found, state, result)
        finally:
            self._contents, self._commits = {}, {}

    def unmatched_at(self, tip: str) -> str:
        """Why a poll found nothing to act on (``PollResult.unmatched``), as the middle of a sentence, with
        the folders that do hold YAML files at ``tip`` (a mistyped path is the usual reason)."""
        where = f"under {self.path}/" if self.path else "in the repository"
        sentence = f"no experiment file (.yaml, .yml) {where} at commit {tip[:8]} of {self.where}"
        try:
            found = experiment_files(self.repo.files(tip, ""))
        except GitError:
            return sentence
        if not found:
            return f"{sentence} (the commit has no YAML files at all)"
        folders = sorted({p.rpartition("/")[0] + "/" if "/" in p else "./" for p in found})
        more = f" and {len(folders) - 5} more" if len(folders) > 5 else ""
        return f"{sentence} (its YAML files are under {', '.join(folders[:5])}{more})"

    def _baseline_due(self, state: SourceState) -> bool:
        return state.commit is None and not state.files and self.skip_existing

    def _apply(
        self, tip: str, tip_files: dict[str, str], found: Changes, state: SourceState, result: PollResult
    ) -> PollResult:
        if self._baseline_due(state):
            return self._baseline(tip, tip_files, state, result)
        unsettled = set(found.changed) | set(found.removed)
        complete = True
        for path in found.changed:
            unsettled.discard(path)
            record = self._process(path, tip_files[path], tip, state, unsettled, result)
            complete = self._settle(path, record, state) and complete
        for path in found.removed:
            gone = state.files.get(path)
            if gone is not None and gone.outcome in ("started", "updated") and gone.experiments:
                log.info("%s was removed at %s; what was started from it keeps running", path, tip[:8])
            else:
                log.info("%s was removed at %s; nothing had been started from it", path, tip[:8])
            state.files.pop(path, None)
            self.state.record(self.source, path, None)
            result.removed.append(path)
        for path in unblocked(state):  # the file that held its experiments changed or went: its content's turn
            log.info("%s: the experiments it was refused for are no longer started from another file", path)
            record = self._process(path, tip_files[path], tip, state, set(), result)
            complete = self._settle(path, record, state) and complete
        if complete:
            state.commit = tip
        self.state.save(self.source, state)
        return result

    def _settle(self, path: str, record: FileRecord | None, state: SourceState) -> bool:
        """Keep what was done for ``path`` (journaled at once: a crash from here on repeats none of it).
        False: nothing to keep, the file is to be tried again."""
        if record is None:
            return False
        state.files[path] = record
        self.state.record(self.source, path, record)
        return True

    def _process(
        self, path: str, blob: str, tip: str, state: SourceState, unsettled: set[str], result: PollResult
    ) -> FileRecord | None:
        commit = self._commits.get(path) or self.repo.last_commit(tip, path)
        previous = state.files.get(path)
        kept = previous.experiments if previous is not None else {}

        def invalid(problems: list[str], held: list[str] | None = None) -> FileRecord:
            self.reporter.invalid(path, commit, problems)
            result.invalid.append(path)
            return FileRecord(blob, commit.sha, kept, "invalid", held or [])

        try:
            parsed = self._load(path, blob, tip)
        except SpecError as exc:
            return invalid([str(p) for p in exc.problems])
        experiments = parsed.experiments
        found = [(e.key, e.spec.target.canary.version) for e in experiments]
        actions, problems = actions_for(path, found, state, unsettled)
        if problems:
            return invalid(problems, conflicts(path, found, state, unsettled))
        reverted = reverted_of(commit.message)
        if reverted is not None:  # a merged meshroll revert: what it brings back is what already runs (stable)
            differs = self._not_reverted(path, commit, reverted)
            if differs is None:
                log.info(
                    "%s: changed by %s, which reverts %s after its rollback (%s); recorded, not started",
                    path, commit.short, reverted[:8], TRAILER,
                )  # fmt: skip
                return FileRecord(blob, commit.sha, dict(found), "reverted")
            log.info(
                "%s: changed by %s, which carries %s: %s, but %s; processed as usual",
                path, commit.short, TRAILER, reverted[:8], differs,
            )  # fmt: skip
        started: dict[str, str] = {}
        for action, experiment, document in zip(actions, experiments, parsed.documents, strict=True):
            manifest = annotate(document, commit, self.repo.display, path)
            metadata = experiment.metadata.model_copy(update={"annotations": manifest["metadata"]["annotations"]})
            request = StartRequest(action, experiment.model_copy(update={"metadata": metadata}), manifest, path)
            try:
                self.starter.start(request)
            except StartError as exc:
                if exc.temporary:
                    self.reporter.deferred(path, str(exc))
                    result.deferred.append(path)
                    return None
                self.reporter.invalid(path, commit, [str(exc)])
                result.invalid.append(path)
                return FileRecord(blob, commit.sha, {**kept, **started}, "refused")
            started[action.key] = action.canary
            result.started.append(f"{action.key}: {action.reason}")
            self.reporter.started(path, action.key, action.kind, action.reason, commit)
        outcome = "started" if any(a.kind == "start" for a in actions) else "updated"
        return FileRecord(blob, commit.sha, started, outcome)

    def _not_reverted(self, path: str, commit: CommitInfo, reverted: str) -> str | None:
        """None when ``path`` at ``commit`` is what it was before ``reverted`` (at its first parent): the
        revert brings back what already runs. Otherwise why it does not (any failure of git: process it)."""
        try:
            if not self.repo.has_commit(reverted):
                return f"{reverted[:8]} is not in the repository"
            parents = self.repo.parents(reverted)
            if not parents:
                return f"{reverted[:8]} is a root commit: there is no earlier version of the file to go back to"
            before = self.repo.files(parents[0], path).get(path)
            if before is None:
                return f"the file did not exist before {reverted[:8]}"
            if self.repo.files(commit.sha, path).get(path) != before:
                return f"its content is not what it was before {reverted[:8]}"
        except GitError as exc:
            return f"it cannot be compared with its version before {reverted[:8]} ({exc})"
        return None

    def _load(self, path: str, blob: str, tip: str) -> ExperimentFile:
        """The file's validated experiments and documents; SpecError with ``FILE:LINE:COL`` problems."""
        try:
            content = self._contents.get(blob)
            text = (content if content is not None else self.repo.read_blob(blob)).decode("utf-8")
        except GitError as exc:
            raise SpecError([SpecProblem(path, 1, 1, "(file)", str(exc))]) from None
        except UnicodeDecodeError:
            raise SpecError([SpecProblem(path, 1, 1, "(file)", "not UTF-8 text; is this an experiment?")]) from None
        try:
            return self.parse(text, path)
        except SpecError:
            if not self.repo.is_symlink(tip, path):
                raise
        message = (
            f"a symbolic link (to {text[:200]!r}); links are not followed, "
            "so commit the experiment itself (or give --path the folder it lives in)"
        )
        raise SpecError([SpecProblem(path, 1, 1, "(file)", message)]) from None

    def _baseline(self, tip: str, tip_files: dict[str, str], state: SourceState, result: PollResult) -> PollResult:
        """--skip-existing on a first run: record what is there without starting it."""
        unusable: list[str] = []  # YAML files holding no valid experiment (another object, a broken one)
        for path, blob in tip_files.items():
            try:
                experiments = {e.key: e.spec.target.canary.version for e in self._load(path, blob, tip).experiments}
            except SpecError:
                experiments = {}
                unusable.append(path)
            state.files[path] = FileRecord(blob, tip, experiments, "seen")
        state.commit = tip
        self.state.save(self.source, state)
        log.info("%s", _baseline_summary(tip, [state.files[p] for p in tip_files], unusable))
        return result


def _baseline_summary(tip: str, records: list[FileRecord], unusable: list[str]) -> str:
    """What --skip-existing recorded: the experiments (not the YAML files), and the files that hold none."""
    experiments = sum(len(r.experiments) for r in records)
    files = len(records) - len(unusable)
    text = (
        f"recorded {_counted(experiments, 'experiment')} from {_counted(files, 'file')} at {tip[:8]} without "
        f"starting {'it' if experiments == 1 else 'them'} (--skip-existing)"
    )
    if unusable:
        one = len(unusable) == 1
        shown = ", ".join(sorted(unusable)[:5]) + (f" and {len(unusable) - 5} more" if len(unusable) > 5 else "")
        text += (
            f"; {_counted(len(unusable), 'other YAML file')} {'holds' if one else 'hold'} no valid experiment "
            f"({shown}): nothing starts from {'it' if one else 'them'} until a commit changes {'it' if one else 'them'}"
        )
    return text


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
