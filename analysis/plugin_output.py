"""What a plugin prints goes to stderr, so that meshroll's own output (JSON, tables) stays whole.

While a plugin's code runs (its import, its factory, a judge call on its own thread), ``sys.stdout`` is
a router: a write from a thread marked as running plugin code goes to ``sys.stderr``, every other
thread's write goes to the stdout it replaced. The router is in place only while some plugin code
runs (nested and concurrent uses share one), and the stdout it replaced is put back after.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_marked = threading.local()
_lock = threading.Lock()


class _Router:
    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout
        self.users = 0  # blocks of plugin code under way that rely on it

    def write(self, text: str) -> int:
        target = sys.stderr if getattr(_marked, "plugin", False) else self.stdout
        return target.write(text)

    def flush(self) -> None:
        self.stdout.flush()
        sys.stderr.flush()

    def __getattr__(self, name: str) -> object:
        return getattr(self.stdout, name)


@contextmanager
def routed() -> Iterator[None]:
    """Keep a router in ``sys.stdout`` for the block: the one there, or a new one around what is there
    (something else, a test's capture say, may have replaced an earlier router meanwhile)."""
    with _lock:
        router = sys.stdout if isinstance(sys.stdout, _Router) else _Router(sys.stdout)
        sys.stdout = router
        router.users += 1
    try:
        yield
    finally:
        with _lock:
            router.users -= 1
            if router.users == 0 and sys.stdout is router:
                sys.stdout = router.stdout


@contextmanager
def plugin_code() -> Iterator[None]:
    """Mark the current thread as running plugin code for the block (its prints go to stderr)."""
    before = getattr(_marked, "plugin", False)
    _marked.plugin = True
    try:
        yield
    finally:
        _marked.plugin = before
