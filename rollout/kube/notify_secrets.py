"""The Secrets an Experiment's Slack notifications name (``spec.notify.slack.tokenSecret``, key ``token``;
``webhookSecret``, key ``url``), read for its run. One that cannot be read (missing, without its key, or
forbidden to the controller) leaves the run without Slack, as ``notifiers_for`` does with any notifier it
cannot build; besides the log line, a Warning Event ``NotifySecretUnreadable`` on the Experiment says which
Secret and key, and what to do: create it, add the key, or grant the controller ``get`` on it (the chart's
ClusterRole does for the names in the Helm value ``secretNames``). A run is built again after every
failure, so the Event repeats: the recorder counts repeats into a series (``events.py``).
Verbs: ``secrets`` get (by name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s

from rollout.kube.client import KubeError, NotFound, call
from rollout.kube.events import EventRecorder, EventText
from rollout.notify.secrets import Secret, SecretError, secret_value

UNREADABLE = "NotifySecretUnreadable"
FIELDS = {"token": "spec.notify.slack.tokenSecret", "url": "spec.notify.slack.webhookSecret"}


class ExperimentSecrets:
    """A ``SecretReader`` for one Experiment's run: reads with the controller's client, and reports a Secret it
    cannot read as a Warning Event about ``regarding`` (then raises ``SecretError``, as any reader does)."""

    def __init__(self, api: k8s.ApiClient, recorder: EventRecorder, regarding: Mapping[str, Any]) -> None:
        self._core = k8s.CoreV1Api(api)
        self.recorder = recorder
        self.regarding = regarding

    def read(self, namespace: str, name: str, key: str) -> Secret:
        try:
            return self._read(namespace, name, key)
        except SecretError as exc:
            self.recorder.record(self.regarding, EventText("Warning", UNREADABLE, "Notify", str(exc)))
            raise

    def _read(self, namespace: str, name: str, key: str) -> Secret:
        field = FIELDS.get(key, "spec.notify")
        what = f"{field}: Secret {namespace}/{name}"
        try:
            secret = call(
                f"reading Secret {namespace}/{name}", lambda: self._core.read_namespaced_secret(name, namespace)
            )
        except NotFound:
            raise SecretError(
                f"{what} does not exist; create it with the key {key!r}: kubectl create secret "
                f"generic {name} -n {namespace} --from-literal={key}=..."
            ) from None
        except KubeError as exc:
            if exc.status == 403:
                raise SecretError(
                    f"{what} may not be read by the controller (403); grant the controller get on it: "
                    f"add {name!r} to the Helm value secretNames (the chart's ClusterRole grants get by name)"
                ) from None
            raise SecretError(f"{what} could not be read: {exc}") from None
        data = getattr(secret, "data", None)
        encoded = data.get(key) if isinstance(data, dict) else None
        if not encoded:
            raise SecretError(
                f"{what} has no key {key!r}; add it: kubectl patch secret {name} -n {namespace} "
                f'--type merge -p \'{{"stringData":{{"{key}":"..."}}}}\''
            )
        return secret_value(encoded, key, what)
