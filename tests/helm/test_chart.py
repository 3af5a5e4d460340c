"""The Helm chart ``helm/meshroll``: lint, render, validate, and its RBAC on the real API server.

Uses the ``helm`` and ``kubeconform`` binaries from the control-plane cache
(``tests/controlplane/build.sh``). kubeconform cannot download its schemas here (no internet), so
the schemas come from the real API server's OpenAPI v3 document instead, written in kubeconform's
file layout; the rendered manifests are also sent to the API server as a server-side dry run with
strict field validation, which is stricter still.

That the ClusterRole is *enough* is proven end to end by ``tests/e2e/test_controller_canary.py``
(the controller runs there as the chart's ServiceAccount and completes experiments); that it is
no more than that is proven here, request by request.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rollout.cli.controller_commands import crd_yaml
from rollout.crd import experiment_crd
from tests.controlplane.fixture import Binaries, ControlPlane
from tests.integration.kube.chart import CHART, helm, helm_binary, install_rbac, render
from tests.integration.kube.fixtures import kube
from tests.integration.kube.helpers import Api, experiment, virtual_service

__all__ = ["kube"]
Obj = dict[str, Any]
CRD_FILE = CHART / "crds" / "experiments.yaml"


def by_kind(documents: list[Obj], kind: str) -> list[Obj]:
    return [d for d in documents if d["kind"] == kind]


def rules(documents: list[Obj], kind: str = "ClusterRole") -> list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    role = by_kind(documents, kind)[0]
    return [
        (r["apiGroups"][0], r["resources"][0], tuple(r.get("resourceNames", ())), tuple(r["verbs"]))
        for r in role["rules"]
    ]


# --- no API server needed ----------------------------------------------------------------------


def test_the_chart_lints() -> None:
    result = helm("lint", "--strict", str(CHART), "--kube-version", "1.36.3")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_chart_s_crd_is_the_generated_one() -> None:
    """Regenerate with: meshroll crd > helm/meshroll/crds/experiments.yaml"""
    text = CRD_FILE.read_text()
    assert yaml.safe_load(text) == experiment_crd(), (
        "stale CRD: run `meshroll crd > helm/meshroll/crds/experiments.yaml`"
    )
    assert text == crd_yaml()


def test_meshroll_crd_prints_the_same_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from rollout.cli import main; main()", "crd"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == CRD_FILE.read_text()


def test_the_deployment_is_locked_down_and_probed() -> None:
    documents = render("mr", "meshroll-system", {"prometheus.url": "http://prom.monitoring:9090"})
    deployment = by_kind(documents, "Deployment")[0]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert "--prometheus=http://prom.monitoring:9090" in container["args"]
    assert "--lease-namespace=meshroll-system" in container["args"]
    assert {"name": "state", "mountPath": "/var/lib/meshroll"} in container["volumeMounts"]  # read-only root
    assert pod["serviceAccountName"] == by_kind(documents, "ServiceAccount")[0]["metadata"]["name"]
    assert deployment["spec"]["replicas"] == 2


def test_reconcile_workers_reach_the_controller_from_the_values() -> None:
    args = by_kind(render("mr", "meshroll-system", {"reconcileWorkers": 16}), "Deployment")[0]["spec"]["template"]
    assert "--reconcile-workers=16" in args["spec"]["containers"][0]["args"]
    default = by_kind(render("mr", "meshroll-system", {}), "Deployment")[0]["spec"]["template"]["spec"]
    assert "--reconcile-workers=4" in default["containers"][0]["args"]


def test_max_concurrent_runs_reaches_the_controller_from_the_values() -> None:
    args = by_kind(render("mr", "meshroll-system", {"maxConcurrentRuns": 3}), "Deployment")[0]["spec"]["template"]
    assert "--max-concurrent-runs=3" in args["spec"]["containers"][0]["args"]
    default = by_kind(render("mr", "meshroll-system", {}), "Deployment")[0]["spec"]["template"]["spec"]
    assert "--max-concurrent-runs=0" in default["containers"][0]["args"]  # no limit


def test_the_cluster_role_grants_exactly_what_the_code_uses() -> None:
    assert rules(render("mr", "meshroll-system")) == [
        ("meshroll.io", "experiments", (), ("get", "list", "watch", "patch")),  # patch: its finalizer
        ("meshroll.io", "experiments/status", (), ("update",)),
        ("events.k8s.io", "events", (), ("create", "patch")),
        ("networking.istio.io", "virtualservices", (), ("get", "list", "update")),  # list: the start-up sweep
        ("networking.istio.io", "destinationrules", (), ("get",)),
        ("gateway.networking.k8s.io", "httproutes", (), ("get", "update")),
        ("split.smi-spec.io", "trafficsplits", (), ("get", "update")),
    ]
    assert rules(render("mr", "meshroll-system"), "Role") == [
        ("coordination.k8s.io", "leases", (), ("create",)),
        ("coordination.k8s.io", "leases", ("meshroll-controller",), ("get", "update")),
    ]


def test_gitops_may_keep_its_state_in_one_configmap_beside_the_lease() -> None:
    with_gitops = render("mr", "meshroll-system", {"gitops": {"repo": "https://git.example.com/shop.git"}})
    assert rules(with_gitops, "Role")[2:] == [
        ("", "configmaps", (), ("create",)),
        ("", "configmaps", ("meshroll-controller-gitops",), ("get", "update")),
    ]
    assert ("experiments", ("create", "update")) in [(r, v[-2:]) for _, r, _, v in rules(with_gitops)]


def test_push_webhooks_have_a_port_and_a_service_and_two_replicas_a_disruption_budget() -> None:
    values = {"gitops": {"repo": "https://git.example.com/shop.git", "webhook": {"secret": {"name": "hook"}}}}
    documents = render("mr", "meshroll-system", values)
    container = by_kind(documents, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "http-gitops", "containerPort": 8088, "protocol": "TCP"} in container["ports"]
    service = next(d for d in by_kind(documents, "Service") if d["metadata"]["name"].endswith("-gitops"))
    assert service["spec"]["ports"] == [{"name": "http-gitops", "port": 8088, "targetPort": "http-gitops",
                                         "protocol": "TCP"}]  # fmt: skip
    assert service["spec"]["selector"]["meshroll.io/leader"] == "true", "the leader alone polls: webhooks go there"
    assert "--leader-pod=$(POD_NAMESPACE)/$(POD_NAME)" in container["args"]
    (budget,) = by_kind(documents, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    plain = render("mr", "meshroll-system", {"replicas": 1, "leaderElection": {"enabled": False}})
    assert not by_kind(plain, "PodDisruptionBudget") and not any(
        d["metadata"]["name"].endswith("-gitops") for d in by_kind(plain, "Service")
    )


def test_secrets_are_granted_by_name_only_and_meshes_can_be_left_out() -> None:
    documents = render(
        "mr", "ns", {"secretNames": ["slack-bot-token"], "meshes": {"istio": True, "gatewayApi": False, "smi": False}}
    )
    granted = rules(documents)
    assert ("", "secrets", ("slack-bot-token",), ("get",)) in granted
    assert not any(resource in ("httproutes", "trafficsplits") for _, resource, _, _ in granted)


def test_watched_namespaces_bind_the_role_in_each_namespace_only() -> None:
    documents = render("mr", "meshroll-system", {"watchNamespaces": ["shop", "payments"]})
    assert not by_kind(documents, "ClusterRoleBinding")
    bindings = [b for b in by_kind(documents, "RoleBinding") if b["roleRef"]["kind"] == "ClusterRole"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["payments", "shop"]
    args = by_kind(documents, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=shop" in args and "--namespace=payments" in args


def test_the_slack_token_comes_from_a_secret_reference() -> None:
    documents = render("mr", "ns", {"slack": {"tokenSecret": {"name": "slack", "key": "bot-token"}}})
    env = by_kind(documents, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "SLACK_BOT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "slack", "key": "bot-token"}}} in env


def test_extra_env_reaches_the_container_for_a_plugins_settings() -> None:
    key = {"name": "DD_API_KEY", "valueFrom": {"secretKeyRef": {"name": "datadog", "key": "api-key"}}}
    url = {"name": "MESHROLL_WEB_SOURCE_URL", "value": "http://stats.internal/counts"}
    documents = render("mr", "ns", {"extraEnv": [url, key]})
    env = by_kind(documents, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[-2:] == [url, key] and env[0]["name"] == "POD_NAME"


def test_the_service_monitor_is_rendered_only_where_its_crd_is_served() -> None:
    values = {
        "metrics": {"port": 8080, "service": {"enabled": True}, "serviceMonitor": {"enabled": True, "interval": "15s"}}
    }
    assert not by_kind(render("mr", "ns", values), "ServiceMonitor")
    with_crd = render("mr", "ns", values, api_versions=("monitoring.coreos.com/v1/ServiceMonitor",))
    monitor = by_kind(with_crd, "ServiceMonitor")[0]
    assert monitor["spec"]["endpoints"] == [{"port": "http-metrics", "path": "/metrics", "interval": "15s"}]


def test_two_replicas_without_leader_election_are_refused() -> None:
    result = helm("template", "mr", str(CHART), "--kube-version", "1.36.3", "--set", "leaderElection.enabled=false")
    assert result.returncode != 0 and "allows only replicas: 1" in result.stderr
    single = render("mr", "ns", {"leaderElection": {"enabled": False}, "replicas": 1})
    assert (
        "--no-leader-election" in by_kind(single, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert not by_kind(single, "Role")


# --- against the real API server -----------------------------------------------------------------


def openapi_schemas(controlplane: ControlPlane, folder: Path) -> Path:
    """kubeconform schemas (``{kind}-{group}-{version}.json``) cut from the API server's OpenAPI v3."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, suffix in (
        ("/openapi/v3/api/v1", "-v1"),
        ("/openapi/v3/apis/apps/v1", "-apps-v1"),
        ("/openapi/v3/apis/rbac.authorization.k8s.io/v1", "-rbac-v1"),
        ("/openapi/v3/apis/policy/v1", "-policy-v1"),
    ):
        components = controlplane.request("GET", path).body["components"]
        for name, schema in components["schemas"].items():
            for gvk in schema.get("x-kubernetes-group-version-kind", ()):
                document = {"$ref": f"#/components/schemas/{name}", "components": components}
                (folder / f"{gvk['kind'].lower()}{suffix}.json").write_text(json.dumps(document))
    return folder


@pytest.mark.controlplane
def test_kubeconform_accepts_the_rendered_chart_with_the_api_server_s_schemas(
    controlplane: ControlPlane, tmp_path: Path
) -> None:
    kubeconform = Binaries.find().kubeconform
    if kubeconform is None:
        pytest.skip("no kubeconform in the control-plane cache: run `bash tests/controlplane/build.sh`")
    helm_binary()
    schemas = openapi_schemas(controlplane, tmp_path / "schemas")
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump_all(render("mr", "meshroll-system", {"secretNames": ["slack"]})))
    location = f"{schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"
    result = subprocess.run(
        [str(kubeconform), "-strict", "-summary", "-schema-location", location, str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


@pytest.mark.controlplane
def test_the_api_server_accepts_every_rendered_object_and_the_crd(controlplane: ControlPlane, tmp_path: Path) -> None:
    namespace = controlplane.create_namespace("meshroll-system")
    documents = render("dry", namespace, {"watchNamespaces": [namespace], "secretNames": ["slack"]})
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all([*documents, yaml.safe_load(CRD_FILE.read_text())]))
    result = controlplane.kubectl("apply", "--dry-run=server", "--validate=strict", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(documents) + 1


@pytest.mark.controlplane
def test_the_rbac_refuses_everything_the_controller_does_not_do(
    controlplane: ControlPlane, kube: Api, tmp_path: Path
) -> None:
    system = controlplane.create_namespace("meshroll-system")
    shop = controlplane.create_namespace("shop")
    kube.create_istio(shop)
    kube.create_experiment(experiment(shop, "checkout-v2"))
    token = install_rbac(controlplane, "rbac-check", system, tmp_path, secretNames=["slack-bot-token"])

    def status(method: str, path: str, body: Obj | None = None) -> int:
        return controlplane.request(method, path, body, token=token).status

    def patch(path: str, body: Obj) -> int:
        merge = "application/merge-patch+json"
        return controlplane.request("PATCH", path, body, token=token, content_type=merge).status

    exp = f"/apis/meshroll.io/v1alpha1/namespaces/{shop}/experiments"
    vs = f"/apis/networking.istio.io/v1/namespaces/{shop}/virtualservices"
    dr = f"/apis/networking.istio.io/v1/namespaces/{shop}/destinationrules"
    leases = f"/apis/coordination.k8s.io/v1/namespaces/{system}/leases"
    # what the controller does: allowed
    assert status("GET", "/apis/meshroll.io/v1alpha1/experiments") == 200
    assert status("GET", f"{exp}/checkout-v2") == 200
    assert status("GET", f"{vs}/checkout") == 200
    version = controlplane.request("GET", f"{exp}/checkout-v2").body["metadata"]["resourceVersion"]
    finalizer = {"metadata": {"finalizers": ["meshroll.io/revert"], "resourceVersion": version}}
    assert patch(f"{exp}/checkout-v2", finalizer) == 200  # its finalizer, a merge patch of that field alone
    assert patch(f"{exp}/checkout-v2", {"metadata": {"finalizers": None}}) == 200  # and off again
    assert status("GET", f"{dr}/checkout") == 200
    current = controlplane.request("GET", f"{vs}/checkout").body
    assert status("PUT", f"{vs}/checkout", current) == 200
    assert status("GET", vs) == 200  # the start-up sweep lists VirtualServices to find orphan faults
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "meshroll-controller"}}
    assert status("POST", leases, lease) == 201
    assert status("GET", f"{leases}/meshroll-controller") == 200
    # what it never does: refused
    refused = {
        "delete a VirtualService": status("DELETE", f"{vs}/checkout"),
        "create a VirtualService": status("POST", vs, virtual_service(shop) | {"metadata": {"name": "x"}}),
        "update a DestinationRule": status("PUT", f"{dr}/checkout", controlplane.request("GET", f"{dr}/checkout").body),
        "list Secrets": status("GET", f"/api/v1/namespaces/{shop}/secrets"),
        "read another Secret": status("GET", f"/api/v1/namespaces/{shop}/secrets/other"),
        "edit an Experiment's spec": status(
            "PUT", f"{exp}/checkout-v2", controlplane.request("GET", f"{exp}/checkout-v2").body
        ),
        "delete an Experiment": status("DELETE", f"{exp}/checkout-v2"),
        "create an Experiment": status("POST", exp, experiment(shop, "sneaky")),
        "read another Lease": status("GET", f"{leases}/someone-else"),
        "a Lease in another namespace": status("POST", f"/apis/coordination.k8s.io/v1/namespaces/{shop}/leases", lease),
        "list Pods": status("GET", f"/api/v1/namespaces/{shop}/pods"),
        "core v1 Events": status("POST", f"/api/v1/namespaces/{shop}/events", {"metadata": {"name": "e"}}),
    }
    assert {what: code for what, code in refused.items() if code != 403} == {}
    assert status("GET", f"/api/v1/namespaces/{shop}/secrets/slack-bot-token") == 404  # allowed; it just is not there


def test_prometheus_access_reaches_the_controller_from_the_values() -> None:
    values = {
        "prometheus": {
            "url": "https://prom.monitoring:9090",
            "headers": ["X-Scope-OrgID:shop"],
            "timeout": 30,
            "caConfigMap": {"name": "prom-ca", "key": "bundle.pem"},
            "insecureSkipVerify": False,
        }
    }
    pod = by_kind(render("mr", "ns", values), "Deployment")[0]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert [a for a in args if a.startswith("--prometheus")] == [
        "--prometheus=https://prom.monitoring:9090",
        "--prometheus-timeout=30",
        "--prometheus-header=X-Scope-OrgID:shop",
        "--prometheus-ca-file=/etc/meshroll/prometheus-ca/ca.crt",
    ]
    assert {"name": "prometheus-ca", "mountPath": "/etc/meshroll/prometheus-ca", "readOnly": True} in pod["containers"][
        0
    ]["volumeMounts"]
    volume = next(v for v in pod["volumes"] if v["name"] == "prometheus-ca")
    assert volume["configMap"] == {"name": "prom-ca", "items": [{"key": "bundle.pem", "path": "ca.crt"}]}
    default = by_kind(render("mr", "ns"), "Deployment")[0]["spec"]["template"]["spec"]
    assert [a for a in default["containers"][0]["args"] if a.startswith("--prometheus")] == [
        "--prometheus=http://prometheus-server.monitoring.svc:80",
        "--prometheus-timeout=10",
    ]
    assert all(v["name"] != "prometheus-ca" for v in default["volumes"])
