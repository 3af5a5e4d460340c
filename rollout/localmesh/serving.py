"""Start and stop one aiohttp application on a host and port, translating bind failures at this edge."""

from __future__ import annotations

import errno
from dataclasses import dataclass

from aiohttp import web

from rollout.localmesh.errors import LocalMeshError

_SHUTDOWN_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Listener:
    """A running aiohttp application and the address it listens on."""

    runner: web.AppRunner
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.runner.cleanup()


def bind_error(host: str, port: int, flag: str, exc: OSError) -> LocalMeshError:
    """The one-line message for a socket that could not be bound."""
    if exc.errno == errno.EADDRINUSE:
        return LocalMeshError(f"port {port} on {host} is in use; pick another with {flag} or free it")
    reason = exc.strerror or str(exc)
    return LocalMeshError(f"cannot listen on {host}:{port} ({reason}); pick another address or port with {flag}")


async def start_listener(app: web.Application, host: str, port: int, *, flag: str) -> Listener:
    """Serve ``app`` on ``host:port`` (0: a free port). ``flag`` names the option that picks the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise bind_error(host, port, flag, exc) from exc
    bound_port = int(runner.addresses[0][1])
    return Listener(runner=runner, host=host, port=bound_port)
