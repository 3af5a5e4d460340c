"""Where an experiment's Slack thread is remembered, so that a restarted process keeps replying in it."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from rollout.files import read_json, write_json_atomic

log = logging.getLogger("meshroll.notify")

KEEP_RUNS = 20  # threads remembered per file (older runs of the same experiment are forgotten)
FIELDS = ("key", "run", "channel", "ts")


@dataclass(frozen=True)
class ThreadRef:
    channel: str  # the channel's id as Slack returned it (chat.update needs the id, not the name)
    ts: str  # the first message's timestamp: the thread's id
    to: str = ""  # the channel as configured when the thread began ("": not recorded, written before 0.1)


class ThreadStore(Protocol):
    def get(self, key: str, run: str) -> ThreadRef | None: ...

    def put(self, key: str, run: str, ref: ThreadRef) -> None: ...


class MemoryThreadStore:
    def __init__(self) -> None:
        self.threads: dict[tuple[str, str], ThreadRef] = {}

    def get(self, key: str, run: str) -> ThreadRef | None:
        return self.threads.get((key, run))

    def put(self, key: str, run: str, ref: ThreadRef) -> None:
        self.threads[(key, run)] = ref


class FileThreadStore:
    """A small JSON file (kept beside the status) listing runs and their threads, newest last.

    A thread that cannot be written to the file (disk full, read-only folder) is still remembered
    in memory: the message is already in Slack, and posting it again would repeat it forever.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._unsaved = MemoryThreadStore()

    def _read(self) -> list[dict[str, str]]:
        data = read_json(self.path)
        threads = data.get("threads") if isinstance(data, dict) else None
        if not isinstance(threads, list):
            return []
        return [t for t in threads if isinstance(t, dict) and all(isinstance(t.get(k), str) for k in FIELDS)]

    def get(self, key: str, run: str) -> ThreadRef | None:
        with self._lock:
            unsaved = self._unsaved.get(key, run)
            found = [t for t in self._read() if t["key"] == key and t["run"] == run] if unsaved is None else []
        if unsaved is not None or not found:
            return unsaved
        last = found[-1]
        return ThreadRef(last["channel"], last["ts"], str(last.get("to", "")))

    def put(self, key: str, run: str, ref: ThreadRef) -> None:
        with self._lock:
            threads = [t for t in self._read() if not (t["key"] == key and t["run"] == run)]
            threads.append({"key": key, "run": run, "channel": ref.channel, "ts": ref.ts, "to": ref.to})
            try:
                write_json_atomic(self.path, {"threads": threads[-KEEP_RUNS:]})
            except OSError as exc:
                self._unsaved.put(key, run, ref)
                log.warning(
                    "cannot save the Slack thread of %s to %s (%s); kept in memory, so a restart starts a new thread",
                    key,
                    self.path,
                    exc.strerror or type(exc).__name__,
                )
