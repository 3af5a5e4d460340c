"""A controller whose image lost an engine plugin does not strand a run of it: against a real API server, a
run judged by the plugin is under way when its controller stops; the next controller, without the plugin,
takes the run over (no InvalidSpec), and deleting the Experiment still routes all traffic back to stable."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

from analysis.engines import UnavailableJudge
from rollout.kube.objects import Key
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for
from tests.unit.plugins.helpers import install_ratio

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]


def ready(kube: Api, namespace: str, name: str) -> dict[str, Any]:
    conditions = kube.status(namespace, name).get("conditions") or ()
    return next((c for c in conditions if c["type"] == "Ready"), {})


def test_a_run_whose_plugin_the_next_controller_lacks_is_taken_over_and_still_reverted_on_deletion(
    kube: Api, namespace: str, start_controller: ControllerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = str(install_ratio(tmp_path / "site"))
    monkeypatch.syspath_prepend(site)
    kube.create_istio(namespace)
    options: dict[str, Any] = {"namespaces": (namespace,), "lease_namespace": namespace}
    first = start_controller(lambda: SyntheticSource(kube), identity="with-plugin", **options)
    body = experiment(namespace, "c", interval="60s")
    body["spec"]["analysis"]["engine"] = "ratio"
    kube.create_experiment(body)
    wait_for(lambda: kube.status(namespace, "c").get("trafficApplied"), "the first step", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)
    first.stop()

    sys.path.remove(site)  # the next image does not hold the plugin
    importlib.invalidate_caches()
    second = start_controller(lambda: SyntheticSource(kube), identity="without-plugin", **options)
    key = Key(namespace, "c")
    run = wait_for(lambda: second.runs.get(key), "the run taken over by the controller without the plugin")
    assert isinstance(run.orchestrator.judge, UnavailableJudge), "its steps hold, blocked, saying why"
    assert ready(kube, namespace, "c").get("reason") != "InvalidSpec", ready(kube, namespace, "c")
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)

    kube.delete_experiment(namespace, "c")

    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (100, 0), "all traffic on stable", timeout=30)
