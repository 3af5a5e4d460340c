"""``meshroll chaos stop --all`` on a real API server: every injected fault goes at once, weights stay,
the experiments are marked so the controller halts them, and orphan fault routes are swept."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s
from typer.testing import CliRunner

from chaos.faults import Abort, Arm, Fault
from rollout.chaos_stop import STOPPED_ANNOTATION, check_api_server
from rollout.cli import app
from rollout.crd import GROUP, PLURAL, VERSION, experiment_crd
from rollout.mesh.factory import provider_for
from rollout.mesh.plan import TrafficPlan
from rollout.spec import load_experiment_text
from tests.controlplane.fixture import ControlPlane

pytestmark = pytest.mark.controlplane

EXPERIMENT = """
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: resilient, namespace: {ns}}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {{provider: istio, virtualService: checkout}}
  strategy: {{canary: {{steps: [10, 50]}}}}
  chaos:
    faults: [{{abort: {{httpStatus: 503, percent: 5}}, arm: both}}]
  analysis: {{metrics: [{{name: errors, template: istio-error-rate}}]}}
"""


def virtual_service(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": "checkout", "namespace": ns},
        "spec": {
            "hosts": ["checkout"],
            "http": [
                {"name": "admin", "match": [{"uri": {"prefix": "/admin"}}],
                 "route": [{"destination": {"host": "checkout-admin"}}], "timeout": "3s"},
                {"name": "orphan", "route": [{"destination": {"host": "checkout", "subset": "v1"}}]},
                {"name": "primary", "route": [{"destination": {"host": "checkout", "subset": "v1"}}],
                 "retries": {"attempts": 3}},
            ],
        },
    }  # fmt: skip


def test_chaos_stop_all_removes_every_fault_and_marks_the_experiments(
    controlplane: ControlPlane, tmp_path: Any
) -> None:
    controlplane.install_crds([experiment_crd()], replace=True)
    ns = controlplane.create_namespace("chaos")
    with controlplane.api_client() as api:
        custom = k8s.CustomObjectsApi(api)
        vs = virtual_service(ns)
        vs["spec"]["http"][1]["name"] = f"meshroll-fault-0.{ns}.deleted-experiment"  # left by a gone experiment
        custom.create_namespaced_custom_object("networking.istio.io", "v1", ns, "virtualservices", vs)
        experiment = load_experiment_text(EXPERIMENT.format(ns=ns))
        body = experiment.model_dump(by_alias=True, mode="json", exclude_defaults=True)
        custom.create_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, body)
        fault = Fault(f"{ns}/resilient#0", f"{ns}/resilient", Arm.BOTH, abort=Abort(5.0, http_status=503))
        provider_for(experiment, api).apply(TrafficPlan(90, 10, faults=(fault,)))
        status = {
            "phase": "Progressing",
            "step": 0,
            "traffic": {"canaryWeight": 10, "abActive": False, "mirrorPercent": 0.0, "faults": [fault.id]},
        }
        custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, "resilient", {"status": status})
        injected = custom.get_namespaced_custom_object("networking.istio.io", "v1", ns, "virtualservices", "checkout")
        assert "fault" in injected["spec"]["http"][-1]

        result = CliRunner().invoke(app, ["chaos", "stop", "--all", "--kubeconfig", str(controlplane.kubeconfig)])

        assert result.exit_code == 0, result.output
        assert f"stopped faults of experiment {ns}/resilient" in result.output
        assert f"meshroll-fault-0.{ns}.deleted-experiment" in result.output
        after = custom.get_namespaced_custom_object("networking.istio.io", "v1", ns, "virtualservices", "checkout")
        routes = {r["name"]: r for r in after["spec"]["http"]}
        assert set(routes) == {"admin", "primary"}
        assert "fault" not in routes["primary"] and routes["primary"]["retries"] == {"attempts": 3}
        assert [d["weight"] for d in routes["primary"]["route"]] == [90, 10], "weights stay as recorded"
        assert routes["admin"] == virtual_service(ns)["spec"]["http"][0]
        marked = custom.get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, "resilient")
        assert STOPPED_ANNOTATION in marked["metadata"]["annotations"]


def test_chaos_stop_needs_the_all_flag() -> None:
    result = CliRunner().invoke(app, ["chaos", "stop"])
    assert result.exit_code == 1
    assert "--all removes every fault" in result.output


def test_a_real_api_server_passes_the_check_that_guards_an_empty_answer(controlplane: ControlPlane) -> None:
    # Without the Experiment CRD the list is a 404, which chaos stop reads as "nothing to stop" only
    # after /version shows the server is a Kubernetes API server.
    with controlplane.api_client() as api:
        check_api_server(api)
