"""The start-up sweep of orphan faults against a real API server, with the controller authenticated as the Helm
chart's ServiceAccount: an install for SMI only (``meshes``: no Istio, so no VirtualServices in its RBAC) does not
list VirtualServices and logs no error or warning for it, a debug line at most; one with Istio sweeps."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rollout.kube.access import may
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.chart import install_rbac
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(120)]
SMI_ONLY = {"istio": False, "gatewayApi": False, "smi": True}


def test_an_smi_only_install_skips_the_virtual_service_sweep_quietly(
    controlplane: ControlPlane,
    kube: Api,
    start_controller: ControllerFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    system, shop = controlplane.create_namespace("meshroll-system"), controlplane.create_namespace("shop")
    token = install_rbac(controlplane, "smi-only", system, tmp_path, meshes=SMI_ONLY)
    assert controlplane.request("GET", "/apis/networking.istio.io/v1/virtualservices", token=token).status == 403
    caplog.set_level(logging.DEBUG, logger="meshroll")

    controller = start_controller(lambda: SyntheticSource(kube), lease_namespace=system, token=token)
    wait_for(lambda: controller.may_act() and controller.ready() == [], "the controller leading and watching")
    wait_for(lambda: [r for r in caplog.records if "sweep" in r.getMessage()], "the start-up sweep's log line")

    loud = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("meshroll")]
    assert not [m for m in loud if "sweep" in m or "403" in m or "forbidden" in m], loud
    skipped = [r for r in caplog.records if "sweep" in r.getMessage() and "skipped" in r.getMessage()]
    assert [r.levelno for r in skipped] == [logging.DEBUG], [r.getMessage() for r in skipped]

    istio = install_rbac(controlplane, "with-istio", system, tmp_path)  # the default: every mesh
    assert may(controlplane.api_client(istio), "list", "networking.istio.io", "virtualservices", None)
    assert may(controlplane.api_client(istio), "list", "networking.istio.io", "virtualservices", shop)
    assert not may(controlplane.api_client(token), "list", "networking.istio.io", "virtualservices", shop)
