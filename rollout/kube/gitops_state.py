"""The controller's GitOps state, kept in a ConfigMap beside the Lease, so that the next leader carries on.

The trigger remembers what it acted on in its ``--state`` file: which content of each file it
applied, the last commit it processed, the write-back's outbox. In the chart that file is on each
pod's own ``emptyDir``. A replica taking the Lease over (a rolling upgrade, a drained node) would
start from nothing and apply every file at the branch tip again: harmless for an Experiment still
there (same spec, no new run), but an Experiment deleted after its release came back and ran again.

So only the leader polls, after each poll the state file is copied into the ConfigMap
``<lease name>-gitops`` (when it changed), and a replica that becomes the leader first copies the
ConfigMap over its own file. The copy is written through the controller's fenced client: a replica
that lost the Lease writes nothing. Until the ConfigMap can be read, the new leader does not poll
(applying from a stale file is the harm this prevents); a ConfigMap that is not there yet means a
first start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from rollout.files import write_text_atomic
from rollout.kube.client import KubeError, NotFound, NotLeader, call

log = logging.getLogger("meshroll.controller")

KEY = "state.json"
MAX_BYTES = 900_000  # a ConfigMap holds at most 1 MiB, its metadata included


class ClusterStateCopy:
    """The state file's copy in ConfigMap ``namespace/name``."""

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str, path: Path) -> None:
        self.core = k8s.CoreV1Api(api)
        self.namespace, self.name, self.path = namespace, name, path
        self._copied: str | None = None  # what the ConfigMap holds, as far as this replica knows
        self._too_big_said = False

    @property
    def where(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"

    def restore(self) -> bool:
        """Put the last leader's state in the local file. False: not now (the cluster could not be read,
        or holds a state that cannot be used); the caller tries again before its next poll."""
        try:
            found: Any = call(
                f"reading the GitOps state ({self.where})",
                lambda: self.core.read_namespaced_config_map(self.name, self.namespace),
            )
        except NotFound:
            log.info("no GitOps state in %s yet: carrying on from %s", self.where, self.path)
            return True
        except KubeError as exc:
            log.warning("%s; GitOps waits for it before polling", exc)
            return False
        text = (found.data or {}).get(KEY)
        if text is None:
            return True
        try:
            usable = isinstance(json.loads(text), dict)
        except ValueError:
            usable = False
        if not usable:
            log.error(
                "the GitOps state in %s (key %s) is not a JSON object; GitOps is paused: fix it, or delete the "
                "ConfigMap to apply the experiments at the branch tip again",
                self.where,
                KEY,
            )
            return False
        try:
            write_text_atomic(self.path, text)
            self.path.with_name(self.path.name + ".journal").unlink(missing_ok=True)  # another leader's came after
        except OSError as exc:
            log.warning("cannot write %s (%s); GitOps waits for it before polling", self.path, exc.strerror or exc)
            return False
        self._copied = text
        log.info("GitOps carries on from the state in %s", self.where)
        return True

    def save(self) -> None:
        """Copy the local file into the ConfigMap, if it changed since the last copy."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return
        if text == self._copied:
            return
        if len(text.encode()) > MAX_BYTES:
            if not self._too_big_said:
                log.error(
                    "the GitOps state (%d bytes) is too large for %s; it is kept in %s only, so the next leader "
                    "applies the branch tip again",
                    len(text.encode()),
                    self.where,
                    self.path,
                )
                self._too_big_said = True
            return
        body = k8s.V1ConfigMap(
            metadata=k8s.V1ObjectMeta(
                name=self.name, namespace=self.namespace, labels={"app.kubernetes.io/managed-by": "meshroll"}
            ),
            data={KEY: text},
        )
        try:
            self._write(body)
        except NotLeader:
            return
        except KubeError as exc:
            log.warning("%s; tried again after the next poll", exc)
            return
        self._copied = text

    def _write(self, body: k8s.V1ConfigMap) -> None:
        doing = f"saving the GitOps state ({self.where})"
        try:
            call(doing, lambda: self.core.replace_namespaced_config_map(self.name, self.namespace, body))
        except NotFound:
            call(doing, lambda: self.core.create_namespaced_config_map(self.namespace, body))


class LeaderOnly:
    """The poller's gate: poll only while this replica leads, and on becoming the leader first take the
    last leader's state (``copy.restore``)."""

    def __init__(self, leading: Callable[[], bool], copy: ClusterStateCopy | None) -> None:
        self.leading = leading
        self.copy = copy
        self.led = False

    def __call__(self) -> bool:
        if not self.leading():
            if self.led:
                log.info("GitOps paused: this replica no longer leads")
            self.led = False
            return False
        if not self.led:
            if self.copy is not None and not self.copy.restore():
                return False
            self.led = True
        return True

    def after_poll(self) -> None:
        if self.led and self.copy is not None:
            self.copy.save()
