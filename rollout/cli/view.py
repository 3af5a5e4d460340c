"""What a person watches during a run: the decision trail, and on a terminal a live panel."""

from __future__ import annotations

import threading
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rollout.events import Judged
from rollout.status import Status
from rollout.trail import entry_lines, metric_line


class RunView:
    """Prints each new history entry once; shows a live panel when the console is a terminal."""

    def __init__(self, console: Console, title: str) -> None:
        self.console = console
        self.title = title
        self._printed = 0
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> RunView:
        if self.console.is_terminal:
            self._live = Live(self._panel(None), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    def on_change(self, status: Status) -> None:
        with self._lock:
            for i in range(self._printed, len(status.history)):
                previous = status.history[i - 1] if i > 0 else None
                for line in entry_lines(status.history[i], status.started_at, previous):
                    self.console.print(line, markup=False, soft_wrap=True)
            self._printed = len(status.history)
            if self._live is not None:
                self._live.update(self._panel(status))

    def _panel(self, status: Status | None) -> Group:
        table = Table(title=self.title, show_header=False, expand=False)
        table.add_column("field")
        table.add_column("value")
        if status is None:
            table.add_row("phase", "starting")
            return Group(table)
        table.add_row("phase", status.phase.value)
        table.add_row("step", str(status.step + 1))
        table.add_row("weights", f"stable {status.traffic.stable_weight}% / canary {status.traffic.canary_weight}%")
        last = next((e.event for e in reversed(status.history) if isinstance(e.event, Judged)), None)
        if last is not None:
            for m in last.metrics:
                table.add_row(m.subject, metric_line(m, last.engine).split(": ", 1)[1])
        return Group(table, Text(status.reason, overflow="fold"))
