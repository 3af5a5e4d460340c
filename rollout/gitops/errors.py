"""The GitOps trigger's errors: one line that says what happened and what to do next."""

from __future__ import annotations

from rollout.errors import RolloutError


class GitOpsError(RolloutError):
    """A problem with the repository, the state file or the trigger's options."""


class GitError(GitOpsError):
    """A git command failed; the message carries git's own last line (never a URL's credentials)."""
