"""spec.target.service is what the built-in metrics select (destination_service_name, with on Gateway API each
arm's own backend Service, {{backend}}), and on Istio
the host whose subsets the run routes (spec.mesh.host defaults to it): an imported Experiment must make the two
the Service that carries the release's traffic, or its critical metric never gets data."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from analysis.promql import arm_values, render
from analysis.templates import BUILTIN_TEMPLATES
from rollout.judging import step_span
from rollout.spec.loader import load_experiment_text
from tests.unit.importers.conftest import Imported, run_import, write_rollout

ISTIO_ROLLOUT = ("argo-rollout-istio.yaml", "argo-analysistemplate-prometheus.yaml")
VS_AND_SERVICES = "argo-istio-virtualservice-services.yaml"
_SELECTED = re.compile(r'destination_service_name(=~?)"([^"]*)"')


def selected_services(imported: Imported) -> dict[str, set[str]]:
    """Per arm (its version), the Services its built-in error-rate and latency queries select, rendered as the
    Prometheus source renders them for the imported Experiment (the peer's own gauge queries aside)."""
    experiment = load_experiment_text(imported.text, "imported.yaml")
    span = step_span(experiment, 0.0, 60.0)
    found: dict[str, set[str]] = {span.stable_version: set(), span.canary_version: set()}
    for metric in experiment.spec.analysis.metrics if experiment.spec.analysis else ():
        builtin = BUILTIN_TEMPLATES.get(metric.template)
        if builtin is None:
            continue
        for version, services in found.items():
            values = arm_values(service=span.service, backend=span.backend(version), namespace=span.namespace,
                                version=version, stable=span.stable_version, canary=span.canary_version,
                                start=span.start, end=span.end, resolution=1.0)  # fmt: skip
            for query in builtin.queries.values():
                for operator, value in _SELECTED.findall(render(query, values)):
                    services.update(re.split(r"(?<!\\)\|", value) if operator == "=~" else [value])
    return found


def _stable_host(peer: Path) -> str:
    """The host of the stable destination of the peer's VirtualService (weight 100 before a release)."""
    documents = list(yaml.safe_load_all((peer / VS_AND_SERVICES).read_text()))
    (vs,) = [d for d in documents if d and d["kind"] == "VirtualService"]
    (stable,) = [r for r in vs["spec"]["http"][0]["route"] if r["weight"] == 100]
    return str(stable["destination"]["host"])


def test_a_host_level_istio_rollout_targets_its_stable_service_which_the_run_routes_and_metrics_select(
    peer: Path, tmp_path: Path
) -> None:
    imported = run_import(tmp_path, *(peer / f for f in (*ISTIO_ROLLOUT, VS_AND_SERVICES)))
    assert imported.code == 0, imported.stderr
    spec, host = imported.spec, _stable_host(peer)  # istio-rollout-stable
    assert spec["target"]["service"] == host  # not the Rollout's name, istio-rollout, which names no Service
    assert spec["mesh"].get("host", spec["target"]["service"]) == host  # the subsets routed are of this host
    assert list(selected_services(imported).values()) == [{host}, {host}]
    assert f'the built-in metrics select the traffic to {host} (destination_service_name="{host}")' in (
        imported.comments
    )
    assert "the canaryService istio-rollout-canary is not used" in imported.comments


def test_a_subset_level_istio_rollout_targets_the_host_its_virtual_service_routes(tmp_path: Path) -> None:
    """Argo's subset-level routing (docs/features/traffic-management/istio.md): one host, a DestinationRule."""
    rollout = write_rollout(
        tmp_path,
        """
trafficRouting:
  istio:
    virtualService: {name: rollouts-demo-vsvc, routes: [primary]}
    destinationRule: {name: rollouts-demo-destrule, canarySubsetName: canary, stableSubsetName: stable}
steps: [{setWeight: 5}, {pause: {duration: 10m}}]
""",
        "{name: rollouts-demo, namespace: shop}",
        more="apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n"
        "metadata: {name: rollouts-demo-vsvc, namespace: shop}\nspec:\n  hosts: [rollouts-demo.local]\n  http:\n"
        "  - name: primary\n    route:\n"
        "    - {destination: {host: rollouts-demo.shop.svc.cluster.local, subset: stable}, weight: 100}\n"
        "    - {destination: {host: rollouts-demo.shop.svc.cluster.local, subset: canary}, weight: 0}\n",
    )
    imported = run_import(tmp_path, rollout)
    assert imported.code == 0, imported.stderr
    spec = imported.spec
    assert spec["target"]["service"] == "rollouts-demo"  # Istio's destination_service_name: the short name
    assert spec["mesh"]["host"] == "rollouts-demo.shop.svc.cluster.local"
    assert list(selected_services(imported).values()) == [{"rollouts-demo"}, {"rollouts-demo"}]


TWO_SERVICES = "canaryService: {name}-canary\nstableService: {name}-stable\nsteps: [{{setWeight: 5}}]\n"


def test_an_smi_rollout_without_root_service_takes_the_stable_service_as_argo_does(tmp_path: Path) -> None:
    rollout = write_rollout(tmp_path, TWO_SERVICES.format(name="billing") + "trafficRouting: {smi: {}}")
    imported = run_import(tmp_path, rollout)
    assert imported.code == 0, imported.stderr
    assert imported.spec["target"]["service"] == "billing-stable"  # the TrafficSplit's root in Argo
    assert "trafficRouting" not in imported.stderr  # smi: {} is Argo's defaults, all translated
    assert "Linkerd's metrics select no Service but the two Deployments named below" in imported.comments
    assert "Deployments named billing-stable-stable and billing-stable-canary" in imported.comments


def test_on_the_gateway_api_plugin_the_metrics_select_both_backend_services(tmp_path: Path) -> None:
    plugin = "trafficRouting: {plugins: {argoproj-labs/gatewayAPI: {httpRoute: cat}}}"
    imported = run_import(tmp_path, write_rollout(tmp_path, TWO_SERVICES.format(name="cat") + plugin))
    assert imported.code == 0, imported.stderr
    spec = imported.spec
    assert (spec["target"]["stable"]["service"], spec["target"]["canary"]["service"]) == ("cat-stable", "cat-canary")
    stable, canary = spec["target"]["stable"]["version"], spec["target"]["canary"]["version"]
    # each arm by the backend the HTTPRoute sends it to (and spec.target.service, which a server's proxy may name)
    service = spec["target"]["service"]
    assert selected_services(imported) == {stable: {service, "cat-stable"}, canary: {service, "cat-canary"}}
    assert "select the traffic of the Services cat-stable and cat-canary" in imported.comments


def test_a_flagger_gateway_api_canary_measures_the_services_its_http_route_weights(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, peer / "flagger-canary-gatewayapi.yaml")
    assert imported.code == 0, imported.stderr
    target = imported.spec["target"]
    assert selected_services(imported) == {
        target["stable"]["version"]: {"podinfo", "podinfo-primary"},
        target["canary"]["version"]: {"podinfo", "podinfo-canary"},
    }


def test_a_rollout_without_namespace_says_so_in_the_file_too(peer: Path, tmp_path: Path) -> None:
    imported = run_import(tmp_path, *(peer / f for f in ISTIO_ROLLOUT))
    assert "namespace" not in yaml.safe_load((peer / ISTIO_ROLLOUT[0]).read_text())["metadata"]
    assert "wrote default/istio-rollout" in imported.stderr
    assert "metadata.namespace: the Rollout names none" in imported.comments
    assert "meshroll reads it as namespace default" in imported.comments
