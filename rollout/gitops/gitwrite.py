"""Writing outcomes back to the watched repository: git notes under ``refs/notes/meshroll`` and revert branches.

Everything is done in the trigger's bare mirror and pushed to the URL it was cloned from; the
watched branch itself is never pushed to. A revert branch undoes the starting commit's change to
the rolled-back experiment's file alone (the reverse of that file's diff, applied 3-way), so what
else that commit changed (another experiment, promoted) stays. Both writes can be repeated safely:
a note's line is added only when the note lacks it (after merging the remote's notes), and a revert
branch that the remote already has is left alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rollout.gitops.errors import GitError
from rollout.gitops.outcome import NOTES_REF, REVERT_PREFIX, Outcome, revert_branch, revert_message
from rollout.gitops.repo import GitRepo, display_url

log = logging.getLogger("meshroll.gitops")

FETCHED_NOTES = "refs/meshroll/notes-remote"
PUSH_ATTEMPTS = 3
CREDENTIALS_HINT = "check that the remote accepts pushes from here (its credentials and write access)"
_REMOTE = re.compile(r"^remote:\s*(?:remote:\s*)+")  # "remote: remote: ...": a server that wrote the prefix itself
_CONFLICTED = re.compile(r"^Applied patch to '(.+)' with conflicts\.$")


def identity() -> dict[str, str]:
    """Who writes notes and revert commits: meshroll, unless the environment names someone (GIT_AUTHOR_NAME...)."""
    wanted = {
        "GIT_AUTHOR_NAME": "meshroll",
        "GIT_AUTHOR_EMAIL": "meshroll@localhost",
        "GIT_COMMITTER_NAME": "meshroll",
        "GIT_COMMITTER_EMAIL": "meshroll@localhost",
    }
    return {name: os.environ.get(name) or value for name, value in wanted.items()}


PUSHED_REFS = "refs/meshroll/reverts/"
"""Where a pushed revert branch leaves a mark on the remote (a ref no pull request lists), so that one
deleted unmerged is not pushed again by a trigger that lost its state (a new pod's empty --state)."""


@dataclass(frozen=True)
class RevertResult:
    kind: Literal["pushed", "exists", "conflict", "empty", "missing"]
    branch: str
    detail: str = ""
    left: tuple[str, ...] = ()  # the other paths the starting commit changed, which the revert leaves as they are


class GitWriter:
    def __init__(self, repo: GitRepo, branch: str) -> None:
        self.repo = repo
        self.branch = branch
        self.env = identity()

    # --- notes ---------------------------------------------------------------------------------

    def write_notes(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Add each outcome's line to its commit's note (unless there), then push the notes; the outcomes
        written (those whose commit the mirror lacks are left out, and logged). GitError when the push fails."""
        for _ in range(PUSH_ATTEMPTS):
            self._merge_remote_notes()
            written = [o for o in outcomes if self._add_line(o)]
            pushed = self.repo.attempt("push", "--quiet", "--porcelain", self.repo.url, f"{NOTES_REF}:{NOTES_REF}")
            if pushed.returncode == 0:
                return written
            if not _rejected(pushed.stdout + pushed.stderr):
                raise GitError(
                    f"cannot push {NOTES_REF} to {self.repo.display}: {_last_line(pushed)}; {CREDENTIALS_HINT}"
                )
            log.info("the remote's %s moved on; merging them and pushing again", NOTES_REF)
        raise GitError(f"{NOTES_REF} on {self.repo.display} kept changing while being pushed; will retry")

    def note(self, commit: str) -> str:
        shown = self.repo.attempt("notes", "--ref", NOTES_REF, "show", commit)
        return shown.stdout.decode("utf-8", "replace") if shown.returncode == 0 else ""

    def _add_line(self, outcome: Outcome) -> bool:
        if not self.repo.has_commit(outcome.commit):
            log.warning(
                "no note for %s: commit %s is not in the repository (any more)", outcome.key, outcome.commit[:8]
            )
            return False
        existing = self.note(outcome.commit)
        lines = existing.splitlines()
        if outcome.line not in lines:
            text = "".join(f"{line}\n" for line in [*lines, outcome.line] if line.strip())
            self.repo.git(
                "notes", "--ref", NOTES_REF, "add", "--force", "--file=-", outcome.commit,
                what="write a note", stdin=text.encode(), env=self.env,
            )  # fmt: skip
        return True

    def _merge_remote_notes(self) -> None:
        """Take the remote's notes in (the union of both sides' lines where both wrote one commit's note)."""
        fetched = self.repo.attempt(
            "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", self.repo.url, f"+{NOTES_REF}:{FETCHED_NOTES}"
        )
        if fetched.returncode != 0:
            if b"couldn't find remote ref" in fetched.stderr.lower():
                return  # the remote has no notes yet
            raise GitError(f"cannot fetch {NOTES_REF} from {self.repo.display}: {_last_line(fetched)}")
        if self.repo.attempt("rev-parse", "--verify", "--quiet", NOTES_REF).returncode != 0:
            self.repo.git("update-ref", NOTES_REF, FETCHED_NOTES, what="take the remote's notes")
            return
        self.repo.git(
            "notes", "--ref", NOTES_REF, "merge", "--quiet", "--strategy=cat_sort_uniq", FETCHED_NOTES,
            what="merge the remote's notes", env=self.env,
        )  # fmt: skip

    # --- revert branches -----------------------------------------------------------------------

    def push_revert(self, outcome: Outcome) -> RevertResult:
        """Push a branch with one commit on the watched branch's tip that reverts ``outcome.commit``'s change
        to ``outcome.path`` (its other changes stay).
        GitError when the remote cannot be read or refuses the push (the caller retries)."""
        branch = revert_branch(outcome)
        ref = f"refs/heads/{branch}"
        if not branch.startswith(REVERT_PREFIX) or branch == self.branch:
            raise GitError(f"refusing to push {branch}: it is not a meshroll revert branch")
        marker = f"{PUSHED_REFS}{branch.removeprefix(REVERT_PREFIX)}"
        listed = self.repo.git("ls-remote", self.repo.url, ref, marker, what="read the remote's branches")
        if ref in listed.split():
            return RevertResult("exists", branch)
        if marker in listed.split():  # pushed before and deleted since (a pull request declined): not again
            return RevertResult("exists", branch, f"it was pushed before ({marker}) and deleted since")
        if not self.repo.has_commit(outcome.commit):
            return RevertResult("missing", branch, f"commit {outcome.commit[:8]} is not in the repository (any more)")
        tip = self.repo.git(
            "rev-parse", "--verify", f"refs/meshroll/heads/{self.branch}^{{commit}}", what="find the tip"
        )
        made = self._revert_commit(outcome, tip)
        if isinstance(made, RevertResult):
            return made
        commit, left = made
        pushed = self.repo.attempt("push", "--quiet", self.repo.url, f"{commit}:{ref}", f"{commit}:{marker}")
        if pushed.returncode != 0:
            if self.repo.git("ls-remote", "--heads", self.repo.url, ref, what="read the remote's branches").strip():
                return RevertResult("exists", branch)  # pushed by an earlier attempt whose answer was lost
            raise GitError(f"cannot push {branch} to {self.repo.display}: {_last_line(pushed)}; {CREDENTIALS_HINT}")
        return RevertResult("pushed", branch, left=left)

    def _revert_commit(self, outcome: Outcome, tip: str) -> tuple[str, tuple[str, ...]] | RevertResult:
        """The revert commit's sha: the reverse of ``outcome.commit``'s change to ``outcome.path`` (to everything,
        when the outcome names no file; against its first parent, or the empty tree for a root commit),
        applied on ``tip`` in a throw-away worktree of the mirror (always removed); with the other paths the
        commit changed, which it leaves as they are."""
        branch = revert_branch(outcome)
        parents = self.repo.parents(outcome.commit)
        base = parents[0] if parents else self.repo.empty_tree()
        spec = ["--", outcome.path] if outcome.path else []
        patch = self._read("diff-tree", "-p", "--binary", "--full-index", "--no-renames", base, outcome.commit, *spec)
        if not patch.strip():
            what = outcome.path or "anything"
            return RevertResult("empty", branch, f"commit {outcome.commit[:8]} did not change {what}")
        left: tuple[str, ...] = ()
        if outcome.path:
            changed = self._read("diff-tree", "-r", "-z", "--name-only", "--no-renames", base, outcome.commit)
            left = tuple(p for p in changed.decode("utf-8", "replace").split("\0") if p and p != outcome.path)
        if outcome.path and self._blob(tip, outcome.path) == self._blob(base, outcome.path):
            why = f"{outcome.path} on {self.branch} is already what it was before {outcome.commit[:8]}"
            return RevertResult("empty", branch, why)
        subject = self.repo.commit(outcome.commit).subject
        scratch = self.repo.mirror.parent.parent / "reverts"
        scratch.mkdir(parents=True, exist_ok=True)
        tree = Path(tempfile.mkdtemp(prefix="revert-", dir=scratch))
        try:
            self.repo.git("worktree", "add", "--detach", "--quiet", str(tree), tip, what="make a worktree")
            applied = self.repo.attempt("apply", "--3way", "--reverse", "--index", at=tree, stdin=patch)
            if applied.returncode != 0:
                return RevertResult("conflict", branch, _conflict(applied), left)
            if self.repo.attempt("diff", "--cached", "--quiet", at=tree).returncode == 0:
                return RevertResult("empty", branch, f"the tip of {self.branch} already undoes {outcome.change}")
            message = revert_message(outcome, subject, left)
            self.repo.git("commit", "--quiet", "--no-verify", "--file=-", what="commit the revert", at=tree,
                          stdin=message.encode(), env=self.env)  # fmt: skip
            return self.repo.git("rev-parse", "HEAD", what="read the revert commit", at=tree), left
        finally:
            self.repo.attempt("worktree", "remove", "--force", str(tree))
            shutil.rmtree(tree, ignore_errors=True)
            self.repo.attempt("worktree", "prune")

    def _read(self, *args: str) -> bytes:
        """git's output as bytes (a patch keeps its file's bytes); GitError when git fails."""
        result = self.repo.attempt(*args)
        if result.returncode != 0:
            raise GitError(f"cannot read a commit's change ({self.repo.display}): {_last_line(result)}")
        return result.stdout

    def _blob(self, commit: str, path: str) -> str | None:
        return self.repo.files(commit, path).get(path)


def _rejected(output: bytes) -> bool:
    """Whether a push was refused because the remote's ref moved on (merge, then push again)."""
    text = output.decode("utf-8", "replace")
    return "[rejected]" in text or "fetch first" in text or "non-fast-forward" in text


def _lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    """git's stderr lines, stripped, without hints; a remote's line once prefixed (a server that already
    wrote ``remote:`` shows ``remote: remote: ...`` through git)."""
    stderr = result.stderr or b""
    lines = [_REMOTE.sub("remote: ", line.strip()) for line in stderr.decode("utf-8", "replace").splitlines()]
    return [line for line in lines if line.removeprefix("remote:").strip() and not line.startswith("hint:")]


def _last_line(result: subprocess.CompletedProcess[bytes]) -> str:
    lines = _lines(result)
    fatal = [line for line in lines if line.startswith(("fatal:", "error:", "CONFLICT", "remote:"))]
    return display_url((fatal or lines or ["git failed"])[0])


def _conflict(result: subprocess.CompletedProcess[bytes]) -> str:
    """Why a reverse patch did not apply: ``conflict in <file>`` when git names the files it left conflicted,
    else git's own line (``error: patch failed: <file>:<line>``, ``error: <file>: does not exist in index``)."""
    lines = _lines(result)
    files = [line[2:] for line in lines if line.startswith("U ")]
    files += [m.group(1) for m in map(_CONFLICTED.match, lines) if m is not None and m.group(1) not in files]
    return f"conflict in {', '.join(files)}" if files else _last_line(result)
