"""Where a status is kept between events: in memory, or in a JSON file (written atomically)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from rollout.files import write_text_atomic
from rollout.status import Status


class StatusStore(Protocol):
    def load(self) -> Status | None: ...

    def save(self, status: Status) -> None: ...


class MemoryStore:
    def __init__(self, status: Status | None = None) -> None:
        self.status = status
        self.saves = 0

    def load(self) -> Status | None:
        return self.status

    def save(self, status: Status) -> None:
        self.status = status
        self.saves += 1


class FileStore:
    """A status file; every save replaces it whole (write to a temporary file, then rename).

    With ``resume=False`` the file is only written: a run that starts afresh (``meshroll run``, whose
    embedded mesh is new each time) replaces an earlier file instead of continuing its run.
    """

    def __init__(self, path: Path, *, resume: bool = True) -> None:
        self.path = path
        self.resume = resume

    def load(self) -> Status | None:
        if not self.resume or not self.path.exists():
            return None
        return Status.model_validate_json(self.path.read_text(encoding="utf-8"))

    def save(self, status: Status) -> None:
        write_text_atomic(self.path, status.model_dump_json(by_alias=True, indent=2))
