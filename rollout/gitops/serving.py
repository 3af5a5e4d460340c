"""One aiohttp application on its own event loop in a daemon thread, for a synchronous main program."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from rollout.gitops.errors import GitOpsError
from rollout.localmesh.errors import LocalMeshError
from rollout.localmesh.loopthread import LoopThread
from rollout.localmesh.serving import Listener, start_listener

TIMEOUT_SECONDS = 10.0


class ServerThread:
    def __init__(self, app: web.Application, host: str = "127.0.0.1", port: int = 0, *, flag: str = "--listen") -> None:
        self.app = app
        self.host = host
        self.port = port
        self.flag = flag
        self._loop = LoopThread("meshroll-http", TIMEOUT_SECONDS)
        self._listener: Listener | None = None

    @property
    def url(self) -> str:
        if self._listener is None:
            raise GitOpsError("the server is not running")
        return self._listener.url

    def start(self) -> ServerThread:
        """Bind and serve; a bind failure raises GitOpsError (one line) and leaves no thread behind."""
        self._loop.start()
        try:
            self._listener = self._loop.call(
                start_listener(self.app, self.host, self.port, flag=self.flag), "the HTTP server"
            )
        except LocalMeshError as exc:
            self._loop.end()
            raise GitOpsError(str(exc)) from None
        except BaseException:
            self._loop.end()
            raise
        self.port = self._listener.port
        return self

    def stop(self) -> None:
        """Stop serving and end the thread. Idempotent."""
        listener, self._listener = self._listener, None
        if self._loop.running and listener is not None:
            self._loop.call(listener.stop(), "the HTTP server")
        self._loop.end()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
