"""Consoles and the one-line error convention."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``meshroll: message`` on stderr as one line and exit with ``code``."""
    err_console.print(f"meshroll: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)
