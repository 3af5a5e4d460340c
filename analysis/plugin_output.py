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
_users = 0
_replaced: TextIO | None = None


class _Router:
    def __init__(self, stdout: TextIO) -> None:
        self.stdout = stdout

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
    """Keep the router in ``sys.stdout`` for the block."""
    global _users, _replaced
    with _lock:
        if _users == 0:
            _replaced = sys.stdout
            sys.stdout = _Router(sys.stdout)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                if isinstance(sys.stdout, _Router):
                    sys.stdout = _replaced
                _replaced = None


@contextmanager
def plugin_code() -> Iterator[None]:
    """Mark the current thread as running plugin code for the block (its prints go to stderr)."""
    before = getattr(_marked, "plugin", False)
    _marked.plugin = True
    try:
        yield
    finally:
        _marked.plugin = before


@contextmanager
def printing_to_stderr() -> Iterator[None]:
    """Run plugin code on this thread with what it prints sent to stderr."""
    with routed(), plugin_code():
        yield
