"""The experiment's spec.mesh picks the provider and tells it where meshroll's share is."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client as k8s

from rollout.mesh.errors import MeshError
from rollout.mesh.factory import provider_for
from rollout.mesh.gateway_api import GatewayApiProvider
from rollout.mesh.istio import IstioProvider
from rollout.mesh.smi import SmiProvider
from rollout.spec import load_experiment_text

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
CLIENT = k8s.ApiClient(k8s.Configuration(host="https://127.0.0.1:1"))


def load(name: str) -> object:
    return load_experiment_text((EXPERIMENTS / name).read_text(), name)


def test_istio_subsets_default_to_the_versions() -> None:
    provider = provider_for(load("canary-istio.yaml"), CLIENT)  # type: ignore[arg-type]
    assert isinstance(provider, IstioProvider)
    assert (provider.settings.owner, provider.settings.host, provider.settings.route) == (
        "shop/checkout-v2",
        "checkout",
        "primary",
    )
    assert (provider.settings.stable_subset, provider.settings.canary_subset) == ("v1", "v2")
    assert provider.destination_rule is not None and provider.destination_rule.name == "checkout"


def test_smi_services_default_to_service_dash_version_and_keep_the_api_version() -> None:
    provider = provider_for(load("canary-smi.yaml"), CLIENT)  # type: ignore[arg-type]
    assert isinstance(provider, SmiProvider)
    assert (provider.settings.stable_service, provider.settings.canary_service) == ("podinfo-primary", "podinfo-canary")
    assert provider.traffic_split.version == "v1alpha2"


def test_gateway_api_uses_the_services_given() -> None:
    provider = provider_for(load("mirror-gateway-api.yaml"), CLIENT)  # type: ignore[arg-type]
    assert isinstance(provider, GatewayApiProvider)
    assert (provider.settings.stable_service, provider.settings.canary_service) == ("payments-v1", "payments-v2")


def test_the_local_mesh_is_not_a_kubernetes_provider() -> None:
    with pytest.raises(MeshError, match="not a Kubernetes mesh"):
        provider_for(load("demo-healthy.yaml"), CLIENT)  # type: ignore[arg-type]
