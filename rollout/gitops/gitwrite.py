"""Writing outcomes back to the watched repository: git notes under ``refs/notes/meshroll`` and revert branches.

Everything is done in the trigger's bare mirror and pushed to the URL it was cloned from; the
watched branch itself is never pushed to. Both writes can be repeated safely: a note's line is
added only when the note lacks it (after merging the remote's notes), and a revert branch that
the remote already has is left alone.
"""

from __future__ import annotations

import logging
import os
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


def identity() -> dict[str, str]:
    """Who writes notes and revert commits: meshroll, unless the environment names someone (GIT_AUTHOR_NAME...)."""
    wanted = {
        "GIT_AUTHOR_NAME": "meshroll",
        "GIT_AUTHOR_EMAIL": "meshroll@localhost",
        "GIT_COMMITTER_NAME": "meshroll",
        "GIT_COMMITTER_EMAIL": "meshroll@localhost",
    }
    return {name: os.environ.get(name) or value for name, value in wanted.items()}


@dataclass(frozen=True)
class RevertResult:
    kind: Literal["pushed", "exists", "conflict", "empty", "missing"]
    branch: str
    detail: str = ""


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
        """Push a branch with one commit on the watched branch's tip that reverts ``outcome.commit``.
        GitError when the remote cannot be read or refuses the push (the caller retries)."""
        branch = revert_branch(outcome)
        ref = f"refs/heads/{branch}"
        if not branch.startswith(REVERT_PREFIX) or branch == self.branch:
            raise GitError(f"refusing to push {branch}: it is not a meshroll revert branch")
        listed = self.repo.git("ls-remote", "--heads", self.repo.url, ref, what="read the remote's branches")
        if listed.strip():
            return RevertResult("exists", branch)
        if not self.repo.has_commit(outcome.commit):
            return RevertResult("missing", branch, f"commit {outcome.commit[:8]} is not in the repository (any more)")
        tip = self.repo.git(
            "rev-parse", "--verify", f"refs/meshroll/heads/{self.branch}^{{commit}}", what="find the tip"
        )
        made = self._revert_commit(outcome, tip)
        if isinstance(made, RevertResult):
            return made
        pushed = self.repo.attempt("push", "--quiet", self.repo.url, f"{made}:{ref}")
        if pushed.returncode != 0:
            if self.repo.git("ls-remote", "--heads", self.repo.url, ref, what="read the remote's branches").strip():
                return RevertResult("exists", branch)  # pushed by an earlier attempt whose answer was lost
            raise GitError(f"cannot push {branch} to {self.repo.display}: {_last_line(pushed)}; {CREDENTIALS_HINT}")
        return RevertResult("pushed", branch)

    def _revert_commit(self, outcome: Outcome, tip: str) -> str | RevertResult:
        """The revert commit's sha, made in a throw-away worktree of the mirror (always removed)."""
        branch = revert_branch(outcome)
        parents = self.repo.git("rev-list", "--parents", "-n", "1", outcome.commit, what="read a commit").split()[1:]
        subject = self.repo.commit(outcome.commit).subject
        scratch = self.repo.mirror.parent.parent / "reverts"
        scratch.mkdir(parents=True, exist_ok=True)
        tree = Path(tempfile.mkdtemp(prefix="revert-", dir=scratch))
        try:
            self.repo.git("worktree", "add", "--detach", "--quiet", str(tree), tip, what="make a worktree")
            mainline = ["-m", "1"] if len(parents) > 1 else []
            reverted = self.repo.attempt("revert", "--no-commit", *mainline, outcome.commit, at=tree, env=self.env)
            if reverted.returncode != 0:
                return RevertResult("conflict", branch, _last_line(reverted))
            if self.repo.attempt("diff", "--cached", "--quiet", at=tree).returncode == 0:
                return RevertResult("empty", branch, f"the tip of {self.branch} already undoes {outcome.commit[:8]}")
            message = revert_message(outcome, subject)
            self.repo.git("commit", "--quiet", "--no-verify", "--file=-", what="commit the revert", at=tree,
                          stdin=message.encode(), env=self.env)  # fmt: skip
            return self.repo.git("rev-parse", "HEAD", what="read the revert commit", at=tree)
        finally:
            self.repo.attempt("worktree", "remove", "--force", str(tree))
            shutil.rmtree(tree, ignore_errors=True)
            self.repo.attempt("worktree", "prune")


def _rejected(output: bytes) -> bool:
    """Whether a push was refused because the remote's ref moved on (merge, then push again)."""
    text = output.decode("utf-8", "replace")
    return "[rejected]" in text or "fetch first" in text or "non-fast-forward" in text


def _last_line(result: subprocess.CompletedProcess[bytes]) -> str:
    stderr = result.stderr or b""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("hint:")]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:", "CONFLICT", "remote:"))]
    return display_url((fatal or lines or ["git failed"])[0])
