"""LocalMesh: the embedded mesh's public face. Two demo backends, the weighted router, the metrics
endpoint (its own port, like Envoy's stats port) and an optional load generator, on one event loop."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from rollout.localmesh.backends import BackendProfile, DemoBackend
from rollout.localmesh.config import LocalMeshConfig
from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.loadgen import LoadGenerator, LoadStats
from rollout.localmesh.metrics import Destination, MeshMetrics, Reporter, VersionCounters
from rollout.localmesh.router import Router
from rollout.localmesh.routing import CANARY, STABLE
from rollout.localmesh.serving import Listener, start_listener
from rollout.mesh.plan import TrafficPlan


def metrics_app(metrics: MeshMetrics) -> web.Application:
    """An application serving ``metrics`` at ``/metrics`` in Prometheus' text format."""

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app


class LocalMesh:
    """Start, steer and read the embedded mesh. Call the async methods and ``start_load`` on the mesh's
    event loop; ``apply``, ``current_plan``, ``snapshot`` and ``set_profile`` are safe from any thread."""

    def __init__(self, config: LocalMeshConfig) -> None:
        self.config = config
        versions = {STABLE: config.stable, CANARY: config.canary}
        self._metrics = MeshMetrics(Destination(config.service, config.namespace, v.name) for v in versions.values())
        self._backends = {
            arm: DemoBackend(v.name, v.profile, seed=f"{config.seed}/backend/{arm}") for arm, v in versions.items()
        }
        self._router = Router(
            {arm: v.name for arm, v in versions.items()},
            self._metrics,
            source_workload=config.source_workload,
            seed=f"{config.seed}/router",
            upstream_timeout_s=config.upstream_timeout_s,
        )
        self._metrics_listener: Listener | None = None
        self._load: tuple[asyncio.Task[LoadStats], asyncio.Event, LoadGenerator] | None = None
        self._load_runs = 0

    async def start(self) -> None:
        """Start backends, router and metrics; a port in use raises LocalMeshError and starts nothing."""
        if self._metrics_listener is not None:
            raise LocalMeshError("the local mesh is already running; stop it before starting it again")
        host = self.config.host
        try:
            for backend in self._backends.values():
                await backend.start(host)
            await self._router.start(host, self.config.port, {arm: b.url for arm, b in self._backends.items()})
            app = metrics_app(self._metrics)
            self._metrics_listener = await start_listener(app, host, self.config.metrics_port, flag="--metrics-port")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the load, the router, the metrics endpoint and the backends. Idempotent."""
        await self.stop_load()
        await self._router.stop()
        listener, self._metrics_listener = self._metrics_listener, None
        if listener is not None:
            await listener.stop()
        for backend in self._backends.values():
            await backend.stop()

    def apply(self, plan: TrafficPlan) -> None:
        self._router.apply(plan)

    @property
    def current_plan(self) -> TrafficPlan:
        return self._router.current_plan

    @property
    def router_url(self) -> str:
        return self._router.url

    @property
    def metrics_url(self) -> str:
        if self._metrics_listener is None:
            raise LocalMeshError("the local mesh is not running; start it first")
        return self._metrics_listener.url + "/metrics"

    def snapshot(self, reporter: Reporter = "destination") -> dict[str, VersionCounters]:
        """Cumulative counts per version name, from ``reporter``'s view (see ``metrics``)."""
        return self._metrics.snapshot(reporter)

    def set_profile(self, version: str, profile: BackendProfile) -> None:
        """Change how a version's backend behaves from its next request on (a regression mid-run)."""
        for backend in self._backends.values():
            if backend.version == version:
                backend.profile = profile
                return
        known = ", ".join(b.version for b in self._backends.values())
        raise LocalMeshError(f"no version {version!r} in the local mesh; it has {known}")

    def start_load(self) -> None:
        """Start the configured load against the router (no-op if it runs already)."""
        if self._load is not None and not self._load[0].done():
            return
        self._load_runs += 1
        generator = LoadGenerator(
            self.router_url, self.config.load_spec(), seed=f"{self.config.seed}/load/{self._load_runs}"
        )
        stop = asyncio.Event()
        self._load = (asyncio.create_task(generator.run(stop)), stop, generator)

    async def stop_load(self) -> LoadStats | None:
        """Stop the load and wait for its in-flight requests; returns what it did (None: never started)."""
        if self._load is None:
            return None
        task, stop, generator = self._load
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        return generator.stats

    @property
    def load_stats(self) -> LoadStats | None:
        """What the latest load run has done so far."""
        return None if self._load is None else self._load[2].stats
