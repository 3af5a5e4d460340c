"""The embedded mesh on its own event loop in a background thread, for synchronous callers (APScheduler)."""

from __future__ import annotations

from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from rollout.localmesh.backends import BackendProfile
from rollout.localmesh.config import LocalMeshConfig
from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.loadgen import LoadStats
from rollout.localmesh.loopthread import LoopThread
from rollout.localmesh.mesh import LocalMesh
from rollout.localmesh.metrics import Reporter, VersionCounters
from rollout.mesh.plan import TrafficPlan

T = TypeVar("T")

_DEFAULT_TIMEOUT_S = 30.0


class LocalMeshThread:
    """A LocalMesh whose loop runs in a daemon thread. Every method is safe from any thread."""

    def __init__(self, config: LocalMeshConfig, *, timeout_s: float = _DEFAULT_TIMEOUT_S) -> None:
        self.mesh = LocalMesh(config)
        self._loop = LoopThread("meshroll-localmesh", timeout_s)

    def start(self) -> LocalMeshThread:
        """Start the loop thread and the mesh on it; a failure (port in use) raises and leaves nothing."""
        if self._loop.running:
            raise LocalMeshError("the local mesh thread is already running; stop it first")
        self._loop.start()
        try:
            self._call(self.mesh.start())
        except BaseException:
            self._loop.end()
            raise
        return self

    def stop(self) -> None:
        """Stop the mesh and end the thread. Idempotent."""
        if not self._loop.running:
            return
        try:
            self._call(self.mesh.stop())
        finally:
            self._loop.end()

    def apply(self, plan: TrafficPlan) -> None:
        self.mesh.apply(plan)

    @property
    def current_plan(self) -> TrafficPlan:
        return self.mesh.current_plan

    @property
    def router_url(self) -> str:
        return self.mesh.router_url

    @property
    def metrics_url(self) -> str:
        return self.mesh.metrics_url

    def snapshot(self, reporter: Reporter = "destination") -> dict[str, VersionCounters]:
        return self.mesh.snapshot(reporter)

    def set_profile(self, version: str, profile: BackendProfile) -> None:
        self.mesh.set_profile(version, profile)

    def start_load(self) -> None:
        self._call(_start_load(self.mesh))

    def stop_load(self) -> LoadStats | None:
        return self._call(self.mesh.stop_load())

    def __enter__(self) -> LocalMeshThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._loop.call(coroutine, "the local mesh")


def run_in_thread(config: LocalMeshConfig) -> LocalMeshThread:
    """Start a LocalMesh in a background thread and return its handle (call ``.stop()`` when done)."""
    return LocalMeshThread(config).start()


async def _start_load(mesh: LocalMesh) -> None:
    mesh.start_load()
