"""The end-to-end stage: API server, embedded mesh following the VirtualService, Prometheus, controller processes.

- a kube-apiserver + etcd (``tests/controlplane``) with the Istio CRDs and the Experiment CRD;
- the embedded mesh under load, playing Istio's data plane by following the VirtualService the
  controller writes (``dataplane.py``);
- a real Prometheus scraping the mesh every second; the controllers read it (``--prometheus``);
- controllers as child processes (``process.py``), authenticated as the Helm chart's
  ServiceAccount with exactly the chart's RBAC applied.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.localmesh import BackendProfile, LocalMeshConfig, LocalMeshThread, VersionSpec
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.chart import install_rbac
from tests.integration.kube.dataplane import IstioDataPlane
from tests.integration.kube.helpers import Api, route_weights
from tests.integration.kube.process import ControllerProcess, free_port
from tests.prometheus.fixture import PrometheusServer

HEALTHY = BackendProfile(median_ms=4.0, p99_ms=20.0, error_rate=0.005)
ERRORING = BackendProfile(median_ms=4.0, p99_ms=20.0, error_rate=0.25)
TERMINAL = ("Succeeded", "RolledBack", "Aborted", "Inconclusive")
LEASE_ARGS = ("--lease-duration=4", "--renew-deadline=3", "--retry-period=0.5")


@dataclass
class Stage:
    kube: Api
    namespace: str
    system: str  # the release namespace (the Lease is there)
    mesh: LocalMeshThread
    dataplane: IstioDataPlane
    kubeconfig: Path
    prometheus_url: str
    folder: Path
    controllers: list[ControllerProcess] = field(default_factory=list)

    def controller(self, identity: str, *extra: str) -> ControllerProcess:
        """Start a controller process (the chart's identity and RBAC) and wait until it is ready."""
        process = ControllerProcess(
            self.kubeconfig,
            self.folder / f"{identity}.log",
            [
                f"--namespace={self.namespace}",
                f"--prometheus={self.prometheus_url}",
                f"--lease-namespace={self.system}",
                *LEASE_ARGS,
                "--resync=10",
                *extra,
            ],
            identity=identity,
        ).start()
        self.controllers.append(process)
        process.wait_ready()
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {c.identity}:\n{c.log_tail(15)}" for c in self.controllers)


@contextlib.contextmanager
def e2e_stage(
    controlplane: ControlPlane, kube: Api, prometheus: PrometheusServer, folder: Path, release: str
) -> Iterator[Stage]:
    namespace = controlplane.create_namespace("shop")
    kube.create_istio(namespace)
    mesh = LocalMeshThread(
        LocalMeshConfig(
            service="checkout",
            namespace=namespace,
            stable=VersionSpec("v1", HEALTHY),
            canary=VersionSpec("v2", HEALTHY),
            metrics_port=free_port(),
            load_rate=150.0,
            seed=7,
        )
    ).start()
    dataplane = IstioDataPlane(controlplane.api_client(), mesh, namespace, "checkout").start()
    address = mesh.metrics_url.split("//", 1)[1].split("/", 1)[0]
    prometheus.add_target(address)
    system = controlplane.create_namespace("meshroll-system")
    token = install_rbac(controlplane, release, system, folder)
    kubeconfig = controlplane.write_kubeconfig(folder / "kubeconfig", token, user="meshroll")
    stage = Stage(kube, namespace, system, mesh, dataplane, kubeconfig, prometheus.url, folder)
    try:
        mesh.start_load()
        prometheus.wait_for_target(address, timeout=60)
        yield stage
    finally:
        for process in stage.controllers:
            process.stop()
        dataplane.stop()
        prometheus.remove_target(address)
        mesh.stop()


def consistent_look(api: Api, namespace: str, name: str) -> dict[str, Any] | None:
    """The status, when the VirtualService held still while it was read; asserts they agree.

    None when the look proves nothing: the VirtualService changed during it, or the status records
    an intent being applied (the mesh may then hold either side of it).
    """
    before = api.virtual_service(namespace)
    status = api.status(namespace, name)
    after = api.virtual_service(namespace)
    if before["metadata"]["resourceVersion"] != after["metadata"]["resourceVersion"]:
        return None
    if not status.get("trafficApplied") or "traffic" not in status:
        return None
    canary = int(status["traffic"]["canaryWeight"])
    assert route_weights(after) == (100 - canary, canary), (status["phase"], status["traffic"], after["spec"]["http"])
    return status


@dataclass
class Watched:
    status: dict[str, Any]
    looks: int
    seconds: float


def run_to_the_end(stage: Stage, name: str, timeout: float = 240.0) -> Watched:
    """Poll until the run ends, checking the VirtualService against the status at every look."""
    began = time.monotonic()
    looks = 0
    while time.monotonic() - began < timeout:
        status = consistent_look(stage.kube, stage.namespace, name)
        if status is not None:
            looks += 1
            if status.get("phase") in TERMINAL:
                return Watched(status, looks, time.monotonic() - began)
        time.sleep(0.3)
    raise AssertionError(f"{name} did not end within {timeout:.0f}s; controller logs:\n{stage.logs()}")


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)
