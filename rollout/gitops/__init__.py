"""Experiments from Git: poll a branch (or take push webhooks), start what changed, exactly once.

``GitOpsSync.poll`` is one pass (``sync.py`` states the force-push and invalid-file policies);
``Poller`` repeats it; ``push_app`` is the webhook endpoint; ``LocalStarter`` and ``ClusterApplier``
start what a commit asks for.
"""

from rollout.gitops.apply import ClusterApplier, LocalStarter, Starter, StartError, StartRequest
from rollout.gitops.errors import BranchMissing, GitError, GitOpsError
from rollout.gitops.loop import Poller
from rollout.gitops.repo import GitRepo
from rollout.gitops.state import StateFile
from rollout.gitops.sync import GitOpsSync, PollResult, Reporter
from rollout.gitops.webhook import PushEvent, push_app

__all__ = [
    "BranchMissing",
    "ClusterApplier",
    "GitError",
    "GitOpsError",
    "GitOpsSync",
    "GitRepo",
    "LocalStarter",
    "PollResult",
    "Poller",
    "PushEvent",
    "Reporter",
    "StartError",
    "StartRequest",
    "Starter",
    "StateFile",
    "push_app",
]
