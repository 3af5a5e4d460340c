"""The embedded mesh: demo backends, a weighted router with fault injection and mirroring, a load
generator and Istio-compatible metrics, all on loopback. ``LocalMesh`` (asyncio) and
``LocalMeshThread`` (a background loop for synchronous callers) are its public face."""

from rollout.localmesh.backends import VERSION_HEADER, BackendProfile
from rollout.localmesh.config import LocalMeshConfig, VersionSpec
from rollout.localmesh.errors import LocalMeshError, MeshError
from rollout.localmesh.loadgen import LoadGenerator, LoadSpec, LoadStats
from rollout.localmesh.mesh import LocalMesh
from rollout.localmesh.metrics import ISTIO_DURATION_BUCKETS_MS, Reporter, VersionCounters
from rollout.localmesh.thread import LocalMeshThread, run_in_thread

__all__ = [
    "ISTIO_DURATION_BUCKETS_MS",
    "VERSION_HEADER",
    "BackendProfile",
    "LoadGenerator",
    "LoadSpec",
    "LoadStats",
    "LocalMesh",
    "LocalMeshConfig",
    "LocalMeshError",
    "LocalMeshThread",
    "MeshError",
    "Reporter",
    "VersionCounters",
    "VersionSpec",
    "run_in_thread",
]
