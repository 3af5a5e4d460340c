"""A metric-source plugin in the controller, against a real API server: a run whose Experiment names
``analysis.source: web`` (the example plugin, over real HTTP) is judged on the plugin's numbers, not
the controller's Prometheus; a controller whose image lost the plugin refuses a new Experiment naming
it and takes over one under way, which holds and is still reverted when deleted."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from analysis.metric_sources import ContainedSource, UnavailableSource
from rollout.kube.objects import Key
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, experiment, route_weights, wait_for
from tests.integration.sources.test_web_plugin import Counts
from tests.unit.plugins.helpers import install_web

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]


class NotPrometheus:
    """The controller's own source: a run that names the plugin must never read it."""

    def collect(self, *_: object) -> dict[str, Any]:
        raise AssertionError("the controller's Prometheus was read for a run whose source is a plugin")


@pytest.fixture
def counts(kube: Api, namespace: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    served = Counts()
    served.weight = lambda: float(route_weights(kube.virtual_service(namespace))[1])
    monkeypatch.setenv("MESHROLL_WEB_SOURCE_URL", served.url)
    threading.Thread(target=served.server.serve_forever, daemon=True).start()
    yield served
    served.server.shutdown()
    served.server.server_close()


def with_source(namespace: str, name: str) -> dict[str, Any]:
    body = experiment(namespace, name)
    body["spec"]["analysis"]["source"] = "web"
    return body


def ready(kube: Api, namespace: str, name: str) -> dict[str, Any]:
    conditions = kube.status(namespace, name).get("conditions") or ()
    return next((c for c in conditions if c["type"] == "Ready"), {})


def test_a_run_is_judged_from_its_source_plugin_and_a_controller_without_it_refuses_new_ones(
    kube: Api,
    namespace: str,
    start_controller: ControllerFactory,
    counts: Counts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site = str(install_web(tmp_path / "site"))
    monkeypatch.syspath_prepend(site)
    kube.create_istio(namespace)
    options: dict[str, Any] = {"namespaces": (namespace,), "lease_namespace": namespace}
    first = start_controller(NotPrometheus, identity="with-plugin", **options)

    counts.canary_errors = 0.06  # 6% against stable's 1%
    kube.create_experiment(with_source(namespace, "erroring"))
    wait_for(lambda: kube.status(namespace, "erroring").get("phase") == "RolledBack", "a rollback", timeout=60)
    assert "error-rate" in kube.status(namespace, "erroring")["reason"]
    assert {q["version"] for q in counts.asked} == {"v1", "v2"}
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)

    counts.canary_errors = 0.01
    kube.create_experiment(with_source(namespace, "healthy"))
    wait_for(lambda: kube.status(namespace, "healthy").get("trafficApplied"), "the first step", timeout=30)
    assert isinstance(first.runs[Key(namespace, "healthy")].orchestrator.source, ContainedSource)
    first.stop()

    sys.path.remove(site)  # the next image does not hold the plugin
    importlib.invalidate_caches()
    second = start_controller(NotPrometheus, identity="without-plugin", **options)
    run = wait_for(lambda: second.runs.get(Key(namespace, "healthy")), "the run taken over without the plugin")
    assert isinstance(run.orchestrator.source, UnavailableSource), "its steps hold, saying why"
    assert ready(kube, namespace, "healthy").get("reason") != "InvalidSpec"
    said = "metrics unavailable (the metric source 'web' is not available in this controller (unknown metric source"
    wait_for(lambda: said in kube.status(namespace, "healthy").get("reason", ""), "a step held for it", timeout=30)

    kube.create_experiment(with_source(namespace, "new"))
    wait_for(lambda: ready(kube, namespace, "new").get("reason") == "InvalidSpec", "the new run refused")
    assert "spec.analysis.source: unknown metric source 'web'" in ready(kube, namespace, "new")["message"]

    kube.delete_experiment(namespace, "healthy")
    wait_for(lambda: route_weights(kube.virtual_service(namespace)) == (100, 0), "all traffic on stable", timeout=30)
