"""An asyncio event loop in a daemon thread, for synchronous callers (the embedded mesh, HTTP servers)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from rollout.localmesh.errors import LocalMeshError

T = TypeVar("T")


class LoopThread:
    """Start a loop in its own thread, run coroutines on it from any thread, then end it."""

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_run_loop, args=(loop,), name=self.name, daemon=True)
        self._loop = loop
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T], what: str) -> T:
        """Run ``coroutine`` on the loop and wait for it; ``what`` names the callee in errors."""
        loop = self._loop
        if loop is None:
            coroutine.close()
            raise LocalMeshError(f"{what} is not running; start it first")
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            return future.result(self.timeout_s)
        except TimeoutError as exc:
            if future.done():  # the coroutine itself timed out: its own error
                raise
            future.cancel()
            raise LocalMeshError(f"{what} did not answer within {self.timeout_s:g} s") from exc

    def end(self) -> None:
        """Stop the loop and join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(self.timeout_s)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
