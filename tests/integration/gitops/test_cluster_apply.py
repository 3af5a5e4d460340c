"""Applying to a real Kubernetes API server (the test control plane) with the kubernetes client.

meshroll's own CRD is built elsewhere; this test installs a permissive stand-in CRD under a test
group, so that it checks create-or-replace and the annotations, not someone else's schema.
A Secret holding a Slack token is read the same way ``spec.notify.slack.tokenSecret`` is.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from rollout.gitops import ClusterApplier, GitOpsSync, GitRepo, StateFile
from rollout.kube.slack_thread import THREAD_ANNOTATION
from rollout.notify.secrets import KubernetesSecretReader, SecretError
from tests.controlplane.fixture import ControlPlane
from tests.integration.gitops.gitrepo import BOB, Origin, experiment_yaml

pytestmark = pytest.mark.controlplane

# Its own plural and singular, so that ``kubectl get experiment`` in other tests still means meshroll's
# (kubectl resolves a bare name by the resources' names, whatever their group).
GROUP, VERSION, PLURAL = "gitops-test.meshroll.io", "v1alpha1", "gitopsexperiments"
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "gitopsexperiment", "kind": "Experiment", "listKind": "ExperimentList"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
                "subresources": {"status": {}},
            }
        ],
    },
}


@pytest.fixture(scope="module")
def crd(controlplane: ControlPlane) -> None:
    for attempt in range(3):
        try:
            controlplane.install_crds([CRD], replace=True)
            return
        except TypeError:  # the fixture's Established check reads "conditions: null" of a new CRD as a list
            if attempt == 2:
                raise


def test_a_commit_creates_the_experiment_and_a_new_canary_replaces_it(
    controlplane: ControlPlane, crd: None, tmp_path: Path
) -> None:
    namespace = controlplane.create_namespace("gitops")
    origin = Origin(tmp_path / "remote")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2", namespace=namespace))
    first = origin.commit("Canary v2")
    origin.push()
    with controlplane.api_client() as api:
        applier = ClusterApplier(k8s.CustomObjectsApi(api), group=GROUP, version=VERSION, plural=PLURAL)
        sync = GitOpsSync(GitRepo(origin.url, tmp_path / "work"), "main", "experiments", StateFile(tmp_path / "s.json"),
                          applier)  # fmt: skip
        sync.poll()
        created = k8s.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "checkout")
        thread = '{"run":"1","channel":"C0DEPLOYS","ts":"1700000000.000100"}'
        held = {  # as the controller puts them on a run under way
            "metadata": {"finalizers": ["meshroll.io/revert"], "annotations": {THREAD_ANNOTATION: thread}}
        }
        k8s.CustomObjectsApi(api).patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "checkout", held)

        origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3", namespace=namespace))
        second = origin.commit("Canary v3", BOB)
        origin.push()
        sync.poll()
        replaced = k8s.CustomObjectsApi(api).get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, "checkout")

    assert created["spec"]["target"]["canary"] == {"version": "v2"}
    assert created["metadata"]["annotations"]["meshroll.io/commit-sha"] == first
    assert replaced["spec"]["target"]["canary"] == {"version": "v3"}
    assert replaced["metadata"]["annotations"]["meshroll.io/commit-sha"] == second
    assert replaced["metadata"]["annotations"]["meshroll.io/commit-author"] == "Bob Builder <bob@example.com>"
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"], "replaced, not deleted and created"
    assert int(replaced["metadata"]["generation"]) == 2
    assert replaced["metadata"]["finalizers"] == ["meshroll.io/revert"], "a replacement keeps the finalizers"
    assert replaced["metadata"]["annotations"][THREAD_ANNOTATION] == thread, "and the run's Slack thread"


def test_a_missing_resource_is_a_temporary_error_that_says_to_install_the_crd(
    controlplane: ControlPlane, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    origin = Origin(tmp_path / "remote")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.commit("Canary")
    origin.push()
    with controlplane.api_client() as api:
        applier = ClusterApplier(k8s.CustomObjectsApi(api), group="absent.meshroll.io")
        sync = GitOpsSync(GitRepo(origin.url, tmp_path / "work"), "main", "experiments", StateFile(tmp_path / "s.json"),
                          applier)  # fmt: skip
        result = sync.poll()
    assert result.deferred == ["experiments/checkout.yaml"] and result.started == []
    assert (
        "the cluster has no experiments.meshroll.io resource (or no namespace demo) for demo/checkout; " in caplog.text
    )
    assert "install meshroll's chart (its CRD) and create the namespace; will retry" in caplog.text


def test_a_slack_token_is_read_from_a_secret(controlplane: ControlPlane) -> None:
    namespace = controlplane.create_namespace("secret")
    token = "xoxb-from-a-kubernetes-secret"
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "slack-bot"},
            "data": {"token": base64.b64encode(token.encode()).decode()}}  # fmt: skip
    assert controlplane.request("POST", f"/api/v1/namespaces/{namespace}/secrets", body).status == 201
    with controlplane.api_client() as api:
        reader = KubernetesSecretReader(api)
        assert reader.read(namespace, "slack-bot", "token").reveal() == token
        with pytest.raises(SecretError) as missing:
            reader.read(namespace, "absent", "token")
        with pytest.raises(SecretError) as no_key:
            reader.read(namespace, "slack-bot", "url")
    assert str(missing.value) == (
        f"Secret {namespace}/absent does not exist; create it with the key 'token', "
        "and let meshroll's ServiceAccount get it"
    )
    assert str(no_key.value) == f"Secret {namespace}/slack-bot has no key 'url'; add it (the value is the token)"
