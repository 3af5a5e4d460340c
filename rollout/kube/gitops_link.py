"""GitOps inside the controller: poll a repository, apply new or changed Experiments to the cluster,
and serve push webhooks that trigger an immediate poll (the same machinery as ``meshroll gitops``)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubernetes import client as k8s

from rollout.gitops import ClusterApplier, GitOpsSync, GitRepo, Poller, Reporter, StateFile
from rollout.gitops.errors import BranchMissing
from rollout.gitops.serving import ServerThread
from rollout.gitops.sync import PollResult
from rollout.gitops.watch import ClusterOutcomes
from rollout.gitops.webhook import standalone_app
from rollout.gitops.writeback import attach
from rollout.kube.gitops_state import ClusterStateCopy, LeaderOnly
from rollout.notify.secrets import Secret

log = logging.getLogger("meshroll.controller")


@dataclass(frozen=True)
class GitOpsSettings:
    repo: str
    branch: str = "main"
    path: str = "experiments/"
    interval: float = 30.0
    state: Path = Path(".meshroll/gitops-state.json")
    webhook: tuple[str, int] | None = None  # where push webhooks are served
    secret: Secret | None = None
    write_back: frozenset[str] = frozenset()  # notes, revert-branch (meshroll gitops --write-back)


@dataclass
class GitOpsLink:
    poller: Poller
    server: ServerThread | None
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> GitOpsLink:
        if self.server is not None:
            self.server.start()
            log.info("push webhooks: POST %s/gitops/push", self.server.url)
        thread = threading.Thread(target=self.poller.run, name="meshroll-gitops", daemon=True)
        thread.start()
        self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.poller.stop()
        if self.server is not None:
            self.server.stop()
        for thread in self.threads:
            thread.join(10)


def gitops_link(
    api: k8s.ApiClient,
    settings: GitOpsSettings,
    *,
    leading: Callable[[], bool] = lambda: True,
    state_copy: tuple[str, str] | None = None,
) -> GitOpsLink:
    """Build (not start) the poller and webhook server. ``api`` should be the controller's fenced client,
    so that only the leader writes. Only while ``leading`` does it poll; ``state_copy`` (namespace, name):
    the ConfigMap the leader copies its state into, and a new leader starts from (``gitops_state.py``)."""
    work = settings.state.parent / f"{settings.state.stem}.d"
    git = GitRepo(settings.repo, work)
    # An empty repository is no error: the poller says once that it waits for the first push.
    with contextlib.suppress(BranchMissing):
        git.check_branch(settings.branch)
    applier = ClusterApplier(k8s.CustomObjectsApi(api))
    sync = GitOpsSync(git, settings.branch, settings.path, StateFile(settings.state), applier, Reporter([]))
    write_back = None
    if settings.write_back:  # the outcomes of the runs it applied, read with GETs, written back to git
        write_back = attach(settings.write_back, sync, ClusterOutcomes(applier)).after_poll
    copy = ClusterStateCopy(api, *state_copy, settings.state) if state_copy is not None else None
    gate = LeaderOnly(leading, copy)

    def after_poll(result: PollResult | None) -> None:
        if write_back is not None:
            write_back(result)
        gate.after_poll()  # the write-back's outbox is in the state too

    poller = Poller(sync, settings.interval, after_poll=after_poll, gate=gate)
    server = None
    if settings.webhook is not None and settings.secret is not None:
        server = ServerThread(standalone_app(settings.secret, poller.on_push), *settings.webhook)
    return GitOpsLink(poller, server)
