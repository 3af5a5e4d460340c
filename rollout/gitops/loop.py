"""The long-running trigger: poll every interval, or at once when a push webhook arrives."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from rollout.errors import RolloutError
from rollout.gitops.errors import BranchMissing
from rollout.gitops.sync import GitOpsSync, PollResult
from rollout.gitops.webhook import PushEvent

log = logging.getLogger("meshroll.gitops")
GATE_RECHECK_S = 1.0  # how often a gated poller (a standby replica) asks again whether it may poll


class Poller:
    def __init__(
        self,
        sync: GitOpsSync,
        interval: float,
        *,
        after_poll: Callable[[PollResult | None], object] | None = None,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        """``gate``: asked before each poll; False skips it, and its ``after_poll`` (a controller's
        standby replica polls nothing)."""
        self.sync = sync
        self.interval = interval
        self.after_poll = after_poll
        self.gate = gate
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.polls = 0
        self.waiting = False  # the branch is not there yet (said once, until it comes)
        self.unmatched = False  # the path holds no experiment file (said once, until one comes)

    def on_push(self, event: PushEvent) -> bool:
        """A push webhook: poll now if it is for our branch (True), else ignore it. Any thread; returns at once."""
        if event.ref is not None and event.ref != f"refs/heads/{self.sync.branch}":
            log.debug("push to %s ignored (watching %s)", event.ref, self.sync.branch)
            return False
        log.info("push webhook from %s (delivery %s): polling now", event.provider, event.delivery or "-")
        self.wake.set()
        return True

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()

    def poll_once(self) -> PollResult | None:
        """One poll; a failure (repository unreachable, cluster down) is logged and retried next time, and a
        branch that is not there yet (an empty repository) is waited for, said once."""
        self.polls += 1
        try:
            result = self.sync.poll()
        except BranchMissing as exc:
            if not self.waiting:
                log.info("%s", exc.waiting)
            self.waiting = True
            return None
        except RolloutError as exc:
            log.error("%s; will try again in %.0fs", exc, self.interval)
            return None
        if self.waiting:
            log.info("branch %s has its first commit, %s", self.sync.branch, result.tip[:8])
            self.waiting = False
        if result.unmatched and not self.unmatched:
            log.warning(
                "%s; check the path (--path, or --gitops-path), or commit an experiment there: polling goes on, "
                "and starts it when it comes",
                self.sync.unmatched_at(result.tip),
            )
        self.unmatched = result.unmatched
        return result

    def run(self) -> None:
        """Poll until ``stop``."""
        while not self.stopped.is_set():
            self.wake.clear()
            if self.gate is None or self.gate():
                result = self.poll_once()
                if self.after_poll is not None:
                    self.after_poll(result)
                self.wake.wait(self.interval)
            else:  # a standby: it polls soon after it leads, not an interval later
                self.wake.wait(min(self.interval, GATE_RECHECK_S))
