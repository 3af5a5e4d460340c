"""The leader's Pod carries the label ``meshroll.io/leader: "true"``, so that a Service can send to it alone.

Only the leader polls the GitOps repository, so a push webhook that reaches a standby replica did
nothing until the leader's next poll (the chart runs two replicas). With ``--leader-pod
NAMESPACE/NAME`` (the chart sets it from the downward API when push webhooks are on) the replica that
takes the Lease labels its own Pod, and removes the label when it loses the Lease or stops; the chart's
``-gitops`` Service selects the label. A replica starting up removes the label first: a container
restarted inside its Pod may have left it. Between a leader's end and the next one's start no Pod has
the label, and a push then gets no answer, which GitHub and GitLab show as a failed delivery to
redeliver; the next leader's first poll reads the branch anyway. A failed patch is logged, never raised:
the label is for webhooks, not for the runs. Verbs: ``pods`` patch, in the Pod's namespace.
"""

from __future__ import annotations

import logging
import threading

from kubernetes import client as k8s

from rollout.kube.client import KubeError, call

LEADER_LABEL = "meshroll.io/leader"
log = logging.getLogger("meshroll.kube.controller")


class LeaderPodLabel:
    """Sets and removes the leader label on one Pod; the last request wins (leadership moves in order)."""

    def __init__(self, api: k8s.ApiClient, namespace: str, name: str) -> None:
        self._core = k8s.CoreV1Api(api)
        self.namespace, self.name = namespace, name
        self._lock = threading.Lock()  # the Lease loop and stop() may both call: their patches go in order

    def mark(self, leading: bool) -> None:
        patch = {"metadata": {"labels": {LEADER_LABEL: "true" if leading else None}}}
        what = f"{'labelling' if leading else 'unlabelling'} Pod {self.namespace}/{self.name} as the leader"
        with self._lock:
            try:
                call(what, lambda: self._core.patch_namespaced_pod(self.name, self.namespace, patch))
            except KubeError as exc:
                log.warning(
                    "%s failed (%s); push webhooks reach the leader through this label: check the Pod name "
                    "(--leader-pod) and that the controller may patch pods in %s",
                    what,
                    exc,
                    self.namespace,
                )
