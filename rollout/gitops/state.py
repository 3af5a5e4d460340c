"""What the trigger has already acted on, per watched source (repo, branch, path), in one JSON file.

For each source: the last processed commit, and for each experiment file the content (blob id) it
last acted on, with the experiments in it and their canary versions. The file is replaced whole on
every change (atomic rename), so a process killed at any point leaves the previous or the new state.
One process at a time: ``hold`` takes an exclusive lock (``STATE.lock``, with the holder's pid) that
the operating system releases when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollout.files import write_json_atomic
from rollout.gitops.errors import GitOpsError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileRecord:
    blob: str  # the content acted on
    commit: str  # the commit it came from
    experiments: dict[str, str] = field(default_factory=dict)  # key -> canary version (empty: invalid file)
    outcome: str = "started"  # started | updated | invalid | refused | seen
    conflicts: list[str] = field(default_factory=list)  # invalid: keys another file had already started


@dataclass
class SourceState:
    commit: str | None = None  # the last commit whose experiment files were all processed
    files: dict[str, FileRecord] = field(default_factory=dict)

    def owner(self, key: str) -> str | None:
        """The file an experiment key was last started from."""
        for path, record in self.files.items():
            if key in record.experiments:
                return path
        return None


def _well_typed(state: SourceState) -> bool:
    """Whether every value has the type this module writes (a hand-edited file may not)."""
    if state.commit is not None and not isinstance(state.commit, str):
        return False
    for path, record in state.files.items():
        texts = (path, record.blob, record.commit, record.outcome)
        if not all(isinstance(t, str) for t in texts) or not isinstance(record.experiments, dict):
            return False
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in record.experiments.items()):
            return False
        if not isinstance(record.conflicts, list) or not all(isinstance(k, str) for k in record.conflicts):
            return False
    return True


def source_id(repo: str, branch: str, path: str) -> str:
    return f"{repo}#{branch}:{path}"


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def hold(self) -> None:
        """Take the state file for this process; refused while another process holds it."""
        if self._lock_fd is not None:
            return
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise GitOpsError(f"cannot lock the state file {self.path} ({exc.strerror}); check --state") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise GitOpsError(
                f"the state file {self.path} is in use by another meshroll gitops process (pid {holder}); "
                "stop that one, or give this one its own --state"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def load(self, source: str) -> SourceState:
        raw = self._read().get("sources", {}).get(source)
        if raw is None:
            return SourceState()
        try:
            files = {p: FileRecord(**r) for p, r in raw.get("files", {}).items()}
            loaded = SourceState(raw.get("commit"), files)
        except (TypeError, AttributeError):
            raise self._broken("its entries do not have the expected fields") from None
        if not _well_typed(loaded):
            raise self._broken("its entries do not have the expected fields")
        return loaded

    def save(self, source: str, state: SourceState) -> None:
        data = self._read()
        sources = data.setdefault("sources", {})
        sources[source] = {
            "commit": state.commit,
            "files": {
                p: {
                    "blob": r.blob,
                    "commit": r.commit,
                    "experiments": r.experiments,
                    "outcome": r.outcome,
                    **({"conflicts": r.conflicts} if r.conflicts else {}),
                }
                for p, r in sorted(state.files.items())
            },
        }
        data["version"] = FORMAT_VERSION
        try:
            write_json_atomic(self.path, data)
        except OSError as exc:
            raise GitOpsError(f"cannot write the state file {self.path} ({exc.strerror}); check --state") from None

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": FORMAT_VERSION, "sources": {}}
        except OSError as exc:
            raise GitOpsError(f"cannot read the state file {self.path} ({exc.strerror}); check --state") from None
        except ValueError:
            raise self._broken("it is not valid JSON") from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise self._broken(f"it is not a version {FORMAT_VERSION} meshroll gitops state")
        if not isinstance(data.get("sources"), dict):
            raise self._broken(f"it is not a version {FORMAT_VERSION} meshroll gitops state")
        return data

    def _broken(self, why: str) -> GitOpsError:
        return GitOpsError(
            f"the state file {self.path} cannot be used: {why}; fix it, or delete it to start the experiments "
            "at the branch tip again (add --skip-existing to start none of them)"
        )
