"""One aiohttp application on its own event loop in a daemon thread, for a synchronous main program."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from rollout.gitops.errors import GitOpsError
from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.serving import Listener, start_listener

TIMEOUT_SECONDS = 10.0


class ServerThread:
    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0, *, flag: str = "--listen") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.flag = flag
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener: Listener | None = None

    @property
    def url(self) -> str:
        if self._listener is None:
            raise GitOpsError("the server is not running")
        return self._listener.url

    def start(self) -> ServerThread:
        """Bind and serve; a bind failure raises GitOpsError (one line) and leaves no thread behind."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=_run, args=(loop,), name="meshroll-http", daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start_listener(self.app, self.host, self.port, flag=self.flag), loop)
        try:
            self._listener = future.result(TIMEOUT_SECONDS)
        except LocalMeshError as exc:
            self._end()
            raise GitOpsError(str(exc)) from None
        except BaseException:
            self._end()
            raise
        self.port = self._listener.port
        return self

    def stop(self) -> None:
        """Stop serving and end the thread. Idempotent."""
        loop, listener = self._loop, self._listener
        self._listener = None
        if loop is not None and listener is not None:
            asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(TIMEOUT_SECONDS)
        self._end()

    def _end(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(TIMEOUT_SECONDS)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _run(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
