"""The controller's GitOps link on a repository that has no commits yet waits for the first push,
as `meshroll gitops` does, instead of refusing to start (real git; the cluster is not contacted)."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s

from rollout.kube.gitops_link import GitOpsSettings, gitops_link
from tests.integration.gitops.gitrepo import Origin


def test_the_controller_link_on_an_empty_repository_is_built_and_waits(tmp_path: Path) -> None:
    origin = Origin(tmp_path / "repo")
    settings = GitOpsSettings(repo=origin.url, state=tmp_path / "state" / "gitops-state.json")

    link = gitops_link(k8s.ApiClient(k8s.Configuration(host="http://127.0.0.1:9")), settings)

    assert link.poller.poll_once() is None and link.poller.waiting, "no commits yet: waiting, not failing"
