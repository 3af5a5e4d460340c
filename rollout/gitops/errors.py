"""The GitOps trigger's errors: one line that says what happened and what to do next."""

from __future__ import annotations

from rollout.errors import RolloutError


class GitOpsError(RolloutError):
    """A problem with the repository, the state file or the trigger's options."""


class GitError(GitOpsError):
    """A git command failed; the message carries git's own last line (never a URL's credentials)."""


class BranchMissing(GitError):
    """The repository answers but has no such branch (yet): an empty repository, or one without that branch.

    ``str``: the error for one-shot runs; ``waiting``: the line a long-running trigger logs while it waits.
    """

    def __init__(self, display: str, branch: str, others: list[str]) -> None:
        self.branch = branch
        if not others:
            message = f"{display} has no branches yet (an empty repository); push a first commit to {branch}"
            self.waiting = f"repository {display} has no commits on branch {branch} yet; waiting for the first push"
        else:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            message = f"branch {branch!r} not found in {display} (it has {shown}); check --branch"
            self.waiting = (
                f"repository {display} has no branch {branch} yet (it has {shown}); waiting for the first push to it"
            )
        super().__init__(message)
