"""GitOps inside the controller with ``--gitops-write-back notes,revert-branch``: an Experiment committed to
the repository is applied by the controller's GitOps link, the controller (in-process, real API server,
real Istio provider, synthetic metrics) rolls its erroring canary back, and the next poll writes the
outcome to the real bare remote: a note on the commit and a branch that reverts it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from rollout.kube.gitops_link import GitOpsSettings, gitops_link
from tests.controlplane.fixture import ControlPlane
from tests.integration.gitops.gitrepo import Origin
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]


def git(bare: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(bare), *args], capture_output=True, text=True, check=True).stdout


def test_a_run_the_controller_rolled_back_is_noted_on_its_commit_and_reverted_on_a_branch(
    controlplane: ControlPlane, kube: Api, namespace: str, start_controller: ControllerFactory, tmp_path: Path
) -> None:
    kube.create_istio(namespace)
    source = SyntheticSource(kube, canary_error_rate=0.3)
    start_controller(lambda: source, namespaces=(namespace,), lease_namespace=namespace)
    origin = Origin(tmp_path / "repo")
    origin.write("experiments/checkout.yaml", yaml.safe_dump(experiment(namespace, "checkout"), sort_keys=False))
    sha = origin.commit("checkout: canary v2")
    origin.push()
    settings = GitOpsSettings(
        repo=origin.url,
        state=tmp_path / "state" / "gitops-state.json",
        write_back=frozenset({"notes", "revert-branch"}),
    )

    with controlplane.api_client() as api:
        poller = gitops_link(api, settings).poller
        assert poller.after_poll is not None
        poller.after_poll(poller.poll_once())  # applies the Experiment, carrying the commit; its run is under way
        assert git(origin.bare, "for-each-ref").count("refs/") == 1, "nothing written back yet: only main"
        wait_for(lambda: kube.status(namespace, "checkout").get("phase") == "RolledBack", "the rollback", timeout=60)
        assert route_weights(kube.virtual_service(namespace)) == (100, 0)
        poller.after_poll(poller.poll_once())  # the next poll reads the run's end and writes it back

    note = git(origin.bare, "notes", "--ref", "meshroll", "show", sha).strip()
    assert note.startswith(f"{namespace}/checkout: rolled back at step 1 (canary 20%): rollback: error-rate: ")
    branch = f"meshroll/revert/{namespace}.checkout-{sha[:8]}"
    message = git(origin.bare, "log", "-1", "--format=%B", branch)
    assert f"Meshroll-Revert-Of: {sha}" in message
    assert git(origin.bare, "ls-tree", "-r", "--name-only", branch).split() == [], "the revert removes what it added"
