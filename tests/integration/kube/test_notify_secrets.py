"""Slack Secrets the controller cannot read, against a real API server, with the controller authenticated as
the Helm chart's ServiceAccount (its RBAC grants ``get`` on the Secrets named in ``secretNames`` only): a
missing Secret, one without its key, and one the controller may not read each leave the run without Slack
(it runs) and put a one-line Warning Event on the Experiment naming the Secret and key, and what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rollout.kube.notify_secrets import UNREADABLE
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.chart import install_rbac
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
Obj = dict[str, Any]


def secret(controlplane: ControlPlane, namespace: str, name: str, data: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}
    result = controlplane.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body)
    assert result.status == 201, result.body


def with_slack(body: Obj, **slack: str) -> Obj:
    body["spec"]["notify"] = {"slack": slack}
    return body


def warning(kube: Api, namespace: str, name: str) -> Obj | None:
    return next((e for e in kube.events(namespace, name) if e["reason"] == UNREADABLE), None)


def test_an_unreadable_slack_secret_is_a_warning_event_that_says_what_to_do(
    controlplane: ControlPlane, kube: Api, start_controller: ControllerFactory, tmp_path: Path
) -> None:
    system = controlplane.create_namespace("meshroll-system")
    missing, keyless, forbidden = (controlplane.create_namespace("slack") for _ in range(3))
    for namespace in (missing, keyless, forbidden):
        kube.create_istio(namespace)
    secret(controlplane, keyless, "slack-hook", {"token": "xoxb-not-a-url"})
    secret(controlplane, forbidden, "slack-other", {"token": "xoxb-secret"})
    token = install_rbac(controlplane, "slack-secrets", system, tmp_path, secretNames=["slack-bot", "slack-hook"])
    start_controller(
        lambda: SyntheticSource(kube),
        namespaces=(missing, keyless, forbidden),
        lease_namespace=system,
        token=token,
    )
    kube.create_experiment(with_slack(experiment(missing, "a", interval="120s"), channel="#deploys",
                                      tokenSecret="slack-bot"))  # fmt: skip
    kube.create_experiment(with_slack(experiment(keyless, "b", interval="120s"), webhookSecret="slack-hook"))
    kube.create_experiment(with_slack(experiment(forbidden, "c", interval="120s"), channel="#deploys",
                                      tokenSecret="slack-other"))  # fmt: skip

    notes = {
        name: wait_for(lambda n=namespace, m=name: warning(kube, n, m), f"{name}'s Warning")
        for namespace, name in ((missing, "a"), (keyless, "b"), (forbidden, "c"))
    }

    assert all(e["type"] == "Warning" and "\n" not in e["note"] for e in notes.values())
    a, b, c = (notes[name]["note"] for name in "abc")
    assert a.startswith(f"spec.notify.slack.tokenSecret: Secret {missing}/slack-bot does not exist"), a
    assert f"kubectl create secret generic slack-bot -n {missing} --from-literal=token=" in a
    assert b.startswith(f"spec.notify.slack.webhookSecret: Secret {keyless}/slack-hook has no key 'url'"), b
    assert c.startswith(f"spec.notify.slack.tokenSecret: Secret {forbidden}/slack-other may not be read"), c
    assert "403" in c and "'slack-other' to the Helm value secretNames" in c
    assert "xoxb" not in a + b + c
    for namespace, name in ((missing, "a"), (keyless, "b"), (forbidden, "c")):  # Slack is never a reason not to run
        wait_for(lambda n=namespace, m=name: kube.status(n, m).get("trafficApplied"), f"{name}'s first step")
