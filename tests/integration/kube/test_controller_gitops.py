"""GitOps inside the controller: a push to the repository, announced by a signed GitHub webhook,
puts the committed Experiment into the cluster at once (the poll interval is an hour), carrying the
commit's SHA; a webhook with a wrong signature is refused and changes nothing. The controller leads
through a Lease, and copies its GitOps state beside it (``test_gitops_leader.py`` hands it over)."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client as k8s

from tests.controlplane.fixture import ControlPlane
from tests.integration.gitops.gitrepo import Origin, experiment_yaml
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, wait_for
from tests.integration.kube.process import ControllerProcess, free_port

__all__ = ["kube"]
pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]
SECRET = "s3cret-for-tests"


def post_push(port: int, body: bytes, signature: str, delivery: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/gitops/push",
        data=body,
        headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature,
                 "Content-Type": "application/json"},
        method="POST",
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_signed_push_webhook_makes_the_controller_apply_the_commit_now(
    controlplane: ControlPlane, kube: Api, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin = Origin(tmp_path / "repo")
    origin.write("README.md", "experiments live in experiments/\n")
    origin.commit("start")
    origin.push()
    monkeypatch.setenv("MESHROLL_TEST_WEBHOOK_SECRET", SECRET)
    hook_port = free_port()
    controller = ControllerProcess(
        controlplane.kubeconfig,
        tmp_path / "controller.log",
        [
            f"--namespace={namespace}", f"--lease-namespace={namespace}", f"--state-dir={tmp_path / 'state'}",
            f"--gitops-repo={origin.url}", "--gitops-interval=1h",
            f"--webhook-listen=127.0.0.1:{hook_port}", "--webhook-secret-env=MESHROLL_TEST_WEBHOOK_SECRET",
        ],
        identity="gitops-0",
    ).start()  # fmt: skip
    try:
        controller.wait_ready()
        state = tmp_path / "state" / "gitops-state.json"
        wait_for(state.exists, "the controller's first poll", timeout=60)  # so only the webhook explains what follows
        origin.write("experiments/checkout.yaml", experiment_yaml("checkout", namespace=namespace))
        sha = origin.commit("canary v2 for checkout")
        origin.push()
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

        assert post_push(hook_port, body, "sha256=" + "0" * 64, "d-forged") == 401
        assert post_push(hook_port, body, good, "d-1") == 202

        def applied() -> bool:
            try:
                found = kube.experiment(namespace, "checkout")
            except Exception:
                return False
            return (found["metadata"].get("annotations") or {}).get("meshroll.io/commit-sha") == sha

        wait_for(applied, "the pushed Experiment in the cluster", timeout=60)
        assert post_push(hook_port, body, good, "d-1") == 202, "a replayed delivery is accepted and ignored"
        core = k8s.CoreV1Api(controlplane.api_client())
        copied = wait_for(  # the leader's state, for the next leader to start from
            lambda: (
                sha
                in (core.read_namespaced_config_map("meshroll-controller-gitops", namespace).data or {}).get(
                    "state.json", ""
                )
            ),
            "the GitOps state copied beside the Lease",
            timeout=30,
        )
        assert copied
    finally:
        controller.kill()
