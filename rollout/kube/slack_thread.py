"""An Experiment's Slack thread, remembered on the Experiment itself, so that another replica keeps replying in it.

The controller's ``--state-dir`` is an ``emptyDir``: each pod has its own. A replica that takes the
Lease over mid-run (a rolling upgrade, a drained node) would otherwise not know the run's thread,
start a second one, and leave the first message, which is kept current with the run's progress and
carries its buttons, stale for good. So the thread is written to the annotation
``meshroll.io/slack-thread`` (``{"run", "channel", "ts", "to"}``, the run's thread only) and read back
from the object a run is built from. The annotation is written through the controller's fenced
client: a replica that lost the Lease writes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from rollout.kube.client import KubeError
from rollout.kube.objects import Experiments, Key
from rollout.notify.threads import MemoryThreadStore, ThreadRef

log = logging.getLogger("meshroll.notify")

THREAD_ANNOTATION = "meshroll.io/slack-thread"


def thread_of(annotations: Mapping[str, Any]) -> tuple[str, ThreadRef] | None:
    """The run and thread an annotation records (None: none, or not one this module wrote)."""
    try:
        value = json.loads(str(annotations.get(THREAD_ANNOTATION) or ""))
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("run", "channel", "ts")):
        return None
    to = value.get("to")
    return value["run"], ThreadRef(value["channel"], value["ts"], to if isinstance(to, str) else "")


class ExperimentThreadStore:
    """The Slack thread of the runs of one Experiment: in memory, and in its annotation for the next replica."""

    def __init__(self, experiments: Experiments, key: Key, obj: Mapping[str, Any]) -> None:
        self.experiments = experiments
        self.key = key
        self._known = MemoryThreadStore()
        found = thread_of((obj.get("metadata") or {}).get("annotations") or {})
        if found is not None:
            self._known.put(str(key), *found)

    def get(self, key: str, run: str) -> ThreadRef | None:
        return self._known.get(key, run)

    def put(self, key: str, run: str, ref: ThreadRef) -> None:
        self._known.put(key, run, ref)
        value = json.dumps({"run": run, "channel": ref.channel, "ts": ref.ts, "to": ref.to}, separators=(",", ":"))
        try:
            self.experiments.patch_annotations(self.key, {THREAD_ANNOTATION: value}, "")
        except KubeError as exc:
            log.warning(
                "cannot record the Slack thread of %s on the Experiment (%s); a replica taking over starts a new one",
                key,
                exc,
            )
