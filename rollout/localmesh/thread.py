"""The embedded mesh on its own event loop in a background thread, for synchronous callers (APScheduler)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from rollout.localmesh.backends import BackendProfile
from rollout.localmesh.config import LocalMeshConfig
from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.loadgen import LoadStats
from rollout.localmesh.mesh import LocalMesh
from rollout.localmesh.metrics import Reporter, VersionCounters
from rollout.mesh.plan import TrafficPlan

T = TypeVar("T")

_DEFAULT_TIMEOUT_S = 30.0


class LocalMeshThread:
    """A LocalMesh whose loop runs in a daemon thread. Every method is safe from any thread."""

    def __init__(self, config: LocalMeshConfig, *, timeout_s: float = _DEFAULT_TIMEOUT_S) -> None:
        self.mesh = LocalMesh(config)
        self._timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LocalMeshThread:
        """Start the loop thread and the mesh on it; a failure (port in use) raises and leaves nothing."""
        if self._loop is not None:
            raise LocalMeshError("the local mesh thread is already running; stop it first")
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_run_loop, args=(loop,), name="meshroll-localmesh", daemon=True)
        self._loop = loop
        self._thread.start()
        try:
            self._call(self.mesh.start())
        except BaseException:
            self._end_loop()
            raise
        return self

    def stop(self) -> None:
        """Stop the mesh and end the thread. Idempotent."""
        if self._loop is None:
            return
        try:
            self._call(self.mesh.stop())
        finally:
            self._end_loop()

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
        loop = self._loop
        if loop is None:
            coroutine.close()
            raise LocalMeshError("the local mesh thread is not running; start it first")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(self._timeout_s)
        except TimeoutError as exc:
            if future.done():  # the coroutine itself timed out: its own error
                raise
            future.cancel()
            raise LocalMeshError(f"the local mesh did not answer within {self._timeout_s:g} s") from exc

    def _end_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(self._timeout_s)


def run_in_thread(config: LocalMeshConfig) -> LocalMeshThread:
    """Start a LocalMesh in a background thread and return its handle (call ``.stop()`` when done)."""
    return LocalMeshThread(config).start()


async def _start_load(mesh: LocalMesh) -> None:
    mesh.start_load()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
