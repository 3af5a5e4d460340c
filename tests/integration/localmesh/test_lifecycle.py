"""Starting, stopping, the background-thread handle, the load generator, and clear start-up errors."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from chaos.matching import MatchKind, RequestMatch, StringMatch
from rollout.localmesh import (
    VERSION_HEADER,
    LoadGenerator,
    LoadSpec,
    LocalMesh,
    LocalMeshError,
    LocalMeshThread,
    run_in_thread,
)
from rollout.mesh.plan import TrafficPlan
from tests.integration.localmesh.helpers import COHORT, FAST, fast_config, running_mesh, send

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_router_port_in_use_gives_a_one_line_error(taken_port: int) -> None:
    mesh = LocalMesh(fast_config(port=taken_port))
    with pytest.raises(LocalMeshError) as caught:
        asyncio.run(mesh.start())
    message = str(caught.value)
    assert message == f"port {taken_port} on 127.0.0.1 is in use; pick another with spec.mesh.port or free it"
    with pytest.raises(LocalMeshError, match="not running"):
        _ = mesh.router_url


def test_a_metrics_port_in_use_names_its_own_option(taken_port: int) -> None:
    with pytest.raises(LocalMeshError, match=rf"^port {taken_port} on 127.0.0.1 is in use; .*--metrics-port"):
        asyncio.run(LocalMesh(fast_config(metrics_port=taken_port)).start())


def test_after_a_port_in_use_freeing_it_lets_the_same_mesh_start() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = int(sock.getsockname()[1])
        mesh = LocalMesh(fast_config(metrics_port=port))
        with pytest.raises(LocalMeshError, match="is in use"):
            asyncio.run(mesh.start())

    async def scenario() -> None:
        await mesh.start()  # the backends and router of the failed start were released
        try:
            assert {r.status for r in await send(mesh, 10)} == {200}
            assert mesh.metrics_url == f"http://127.0.0.1:{port}/metrics"
        finally:
            await mesh.stop()

    asyncio.run(scenario())


def test_stop_is_idempotent() -> None:
    async def scenario() -> None:
        mesh = LocalMesh(fast_config())
        await mesh.stop()
        await mesh.start()
        await mesh.stop()
        await mesh.stop()

    asyncio.run(scenario())


def test_bad_settings_are_refused_with_what_to_change() -> None:
    with pytest.raises(LocalMeshError, match=r"--port must be within 0\.\.65535"):
        fast_config(port=70000)
    with pytest.raises(LocalMeshError, match="cohort fraction"):
        fast_config(cohort_fraction=1.5)
    with pytest.raises(LocalMeshError, match="p99_ms"):
        type(FAST)(median_ms=10.0, p99_ms=5.0)
    with pytest.raises(LocalMeshError, match=r"no version 'v9'.*v1, v2"):
        LocalMesh(fast_config()).set_profile("v9", FAST)


def test_the_load_generator_sends_poisson_load_with_a_cohort_share_until_stopped() -> None:
    beta = RequestMatch(headers=(("x-cohort", StringMatch(MatchKind.EXACT, "beta")),))

    async def scenario() -> None:
        async with running_mesh(fast_config(load_rate=150.0, cohort_fraction=0.5)) as mesh:
            mesh.apply(TrafficPlan(ab_matches=(beta,)))
            mesh.start_load()
            mesh.start_load()  # already running: nothing more
            await asyncio.sleep(1.5)
            stats = await mesh.stop_load()
            assert stats is not None
            source = mesh.snapshot("source")
        assert stats.sent >= 50
        assert stats.failed == 0 and stats.answered == stats.sent
        assert stats.by_status == {200: stats.sent}
        assert 0 < stats.with_cohort < stats.sent
        assert source["v2"].requests == stats.with_cohort
        assert source["v1"].requests == stats.sent - stats.with_cohort

    asyncio.run(scenario())


def test_the_load_generator_is_bounded_by_count_and_time() -> None:
    async def scenario() -> None:
        async with running_mesh() as mesh:
            counted = LoadGenerator(mesh.router_url, LoadSpec(rate=400.0, max_duration_s=10.0, max_requests=60), seed=1)
            stats = await counted.run(asyncio.Event())
            assert stats.sent + stats.skipped == 60
            timed = LoadGenerator(mesh.router_url, LoadSpec(rate=100.0, max_duration_s=0.5), seed=2)
            stats = await asyncio.wait_for(timed.run(asyncio.Event()), timeout=10)
            assert 0 < stats.sent < 200
            assert mesh.snapshot("source")["v1"].requests == 60 - counted.stats.skipped + stats.sent

    asyncio.run(scenario())


def _get(url: str, headers: dict[str, str] | None = None) -> str | None:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        value: str | None = response.headers.get(VERSION_HEADER)
        return value


def test_a_mesh_in_a_background_thread_serves_synchronous_callers() -> None:
    with LocalMeshThread(fast_config()) as handle:
        handle.apply(TrafficPlan(stable_weight=0, canary_weight=100))
        assert {_get(handle.router_url + "/") for _ in range(20)} == {"v2"}
        assert handle.snapshot()["v2"].requests == 20
        handle.apply(TrafficPlan.all_stable())
        assert {_get(handle.router_url + "/", COHORT) for _ in range(10)} == {"v1"}
        assert handle.current_plan.is_safe
        handle.start_load()
        handle.stop_load()
    handle.stop()  # again: nothing to do
    with pytest.raises(LocalMeshError, match="not running"):
        handle.start_load()


def test_run_in_thread_reports_a_port_in_use_and_leaves_no_thread(taken_port: int) -> None:
    with pytest.raises(LocalMeshError, match="is in use"):
        run_in_thread(fast_config(port=taken_port))
    handle = run_in_thread(fast_config())
    try:
        assert _get(handle.router_url + "/") == "v1"
    finally:
        handle.stop()
