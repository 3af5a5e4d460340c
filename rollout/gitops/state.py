"""What the trigger has already acted on, per watched source (repo, branch, path), in one JSON file.

For each source: the last processed commit, and for each experiment file the content (blob id) it
last acted on, with the experiments in it and their canary versions.

The file is replaced whole (atomic rename) once per poll, so a process killed at any point leaves the
previous or the new state. Within a poll, each file's record is appended to a journal beside it
(``STATE.journal``, one JSON line, flushed) as soon as that file has been acted on; reading the state
replays the journal over the file, and a whole write deletes it. So a process killed mid-poll loses
nothing that was started, and a poll of N files costs N short appends and one write, not N writes.
Other top-level keys (``save_section``: the write-back's outbox) are kept by every write; a file without
them reads as before. One process at a time: ``hold`` takes an exclusive lock (``STATE.lock``, with the
holder's pid) that the operating system releases when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
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
    outcome: str = "started"  # started | updated | invalid | refused | seen | reverted (a merged revert: not started)
    conflicts: list[str] = field(default_factory=list)  # invalid: keys another file had already started


class FileRecords(dict[str, FileRecord]):
    """path -> record, with an index of which paths' records name each experiment key, so ``owner`` is
    one look-up, not a scan. Records are replaced, never changed in place (``FileRecord`` is frozen;
    its ``experiments`` are not edited after it is made). Every way of changing the dict keeps the index."""

    def __init__(self, records: Mapping[str, FileRecord] | Iterable[tuple[str, FileRecord]] = (), /) -> None:
        super().__init__()
        self._claims: dict[str, dict[str, int]] = {}  # key -> {path: its place in the dict's order}
        self._places: dict[str, int] = {}  # path -> its place (insertion order, as the dict iterates)
        self._next = 0
        self.update(records)

    def owner(self, key: str) -> str | None:
        """The first path, in the dict's order, whose record names ``key`` (as a scan in order would find)."""
        claims = self._claims.get(key)
        if not claims:
            return None
        return next(iter(claims)) if len(claims) == 1 else min(claims, key=claims.__getitem__)

    def __setitem__(self, path: str, record: FileRecord) -> None:
        if path in self:
            self._unclaim(path, super().__getitem__(path))
        else:
            self._places[path] = self._next
            self._next += 1
        super().__setitem__(path, record)
        for key in record.experiments:
            self._claims.setdefault(key, {})[path] = self._places[path]

    def __delitem__(self, path: str) -> None:
        record = super().__getitem__(path)
        super().__delitem__(path)
        self._unclaim(path, record)
        del self._places[path]

    def _unclaim(self, path: str, record: FileRecord) -> None:
        for key in record.experiments:
            claims = self._claims.get(key)
            if claims is not None:
                claims.pop(path, None)
                if not claims:
                    del self._claims[key]

    _MISSING: Any = object()

    def pop(self, path: str, default: Any = _MISSING) -> Any:
        if path in self:
            record = super().__getitem__(path)
            del self[path]
            return record
        if default is FileRecords._MISSING:
            raise KeyError(path)
        return default

    def popitem(self) -> tuple[str, FileRecord]:
        path = next(reversed(self))  # as dict.popitem: the last inserted
        return path, self.pop(path)

    def clear(self) -> None:
        super().clear()
        self._claims.clear()
        self._places.clear()

    def setdefault(self, path: str, default: FileRecord) -> FileRecord:
        if path not in self:
            self[path] = default
        return super().__getitem__(path)

    def update(self, *others: Any, **more: FileRecord) -> None:
        for other in others:
            pairs = other.items() if isinstance(other, Mapping) else other
            for path, record in pairs:
                self[path] = record
        for path, record in more.items():
            self[path] = record

    def __ior__(self, other: Any) -> FileRecords:  # type: ignore[override,misc]
        self.update(other)
        return self


@dataclass
class SourceState:
    commit: str | None = None  # the last commit whose experiment files were all processed
    # path -> record; always a FileRecords (a plain dict given, or set later, is taken into one)
    files: dict[str, FileRecord] = field(default_factory=FileRecords)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "files" and not isinstance(value, FileRecords):
            value = FileRecords(value)
        super().__setattr__(name, value)

    def owner(self, key: str) -> str | None:
        """The file an experiment key was last started from (the first in the files' order that names it)."""
        files = self.files
        assert isinstance(files, FileRecords)  # kept so by __setattr__
        return files.owner(key)


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


def _raw(record: FileRecord) -> dict[str, Any]:
    """A record as the state file (and its journal) hold it."""
    return {
        "blob": record.blob,
        "commit": record.commit,
        "experiments": record.experiments,
        "outcome": record.outcome,
        **({"conflicts": record.conflicts} if record.conflicts else {}),
    }


def _journal_entry(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    texts = isinstance(entry.get("source"), str) and isinstance(entry.get("path"), str)
    return texts and (entry.get("record") is None or isinstance(entry["record"], dict))


def source_id(repo: str, branch: str, path: str) -> str:
    return f"{repo}#{branch}:{path}"


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None
        self._journal_checked = False  # whether a torn last line (from a killed process) was cut

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def journal_path(self) -> Path:
        return self.path.with_name(self.path.name + ".journal")

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
        """Write the whole state (every source, the journal included); the journal is then deleted."""
        data = self._read()
        data["sources"][source] = {
            "commit": state.commit,
            "files": {p: _raw(r) for p, r in sorted(state.files.items())},
        }
        try:
            write_json_atomic(self.path, data)
            self.journal_path.unlink(missing_ok=True)  # killed before this line: replaying it changes nothing
        except OSError as exc:
            raise GitOpsError(f"cannot write the state file {self.path} ({exc.strerror}); check --state") from None
        self._journal_checked = False

    def load_section(self, name: str, source: str) -> object:
        """What ``save_section`` kept for ``source`` under ``name`` (None: nothing; an older file has no sections)."""
        section = self._read_file().get(name)
        return section.get(source) if isinstance(section, dict) else None

    def save_section(self, name: str, source: str, value: object) -> None:
        """Keep ``value`` (JSON) for ``source`` under the top-level key ``name``: one atomic write, the journal
        left as it is (it replays over the file's sources, which this does not change)."""
        data = self._read_file()
        section = data.get(name)
        data[name] = {**(section if isinstance(section, dict) else {}), source: value}
        try:
            write_json_atomic(self.path, data)
        except OSError as exc:
            raise GitOpsError(f"cannot write the state file {self.path} ({exc.strerror}); check --state") from None

    def record(self, source: str, path: str, record: FileRecord | None) -> None:
        """Note at once that ``path`` was acted on (None: forgotten), until the next ``save`` writes it in."""
        line = json.dumps({"source": source, "path": path, "record": None if record is None else _raw(record)})
        try:
            if not self._journal_checked:
                self._drop_torn_line()
            with self.journal_path.open("a", encoding="utf-8") as journal:
                journal.write(line + "\n")
        except OSError as exc:
            raise GitOpsError(f"cannot write {self.journal_path} ({exc.strerror}); check --state") from None

    def _drop_torn_line(self) -> None:
        """A process killed while appending leaves a line without its end; cut it so the next one starts clean."""
        try:
            with self.journal_path.open("rb+") as journal:
                text = journal.read()
                if text and not text.endswith(b"\n"):
                    journal.truncate(text.rfind(b"\n") + 1)
        except FileNotFoundError:
            pass
        self._journal_checked = True

    def _read(self) -> dict[str, Any]:
        """The file's state with the journal replayed over it."""
        data = self._read_file()
        for entry in self._journal():
            files = data["sources"].setdefault(entry["source"], {"commit": None, "files": {}})["files"]
            if entry["record"] is None:
                files.pop(entry["path"], None)
            else:
                files[entry["path"]] = entry["record"]
        return data

    def _read_file(self) -> dict[str, Any]:
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

    def _journal(self) -> list[dict[str, Any]]:
        """The journal's entries in order; a last line without its end (a process killed mid-append) is skipped."""
        try:
            text = self.journal_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise self._broken_journal(f"it cannot be read ({exc})") from None
        entries = []
        for line in text.split("\n")[:-1]:  # the part after the last newline is torn or empty
            try:
                entry = json.loads(line)
            except ValueError:
                raise self._broken_journal("a line is not JSON") from None
            if not _journal_entry(entry):
                raise self._broken_journal("a line has no source, path and record")
            entries.append(entry)
        return entries

    def _broken_journal(self, why: str) -> GitOpsError:
        return GitOpsError(
            f"the state file's journal {self.journal_path} cannot be used: {why}; fix it, or delete it "
            "(what was started since the last completed poll is then started again)"
        )

    def _broken(self, why: str) -> GitOpsError:
        return GitOpsError(
            f"the state file {self.path} cannot be used: {why}; fix it, or delete it to start the experiments "
            "at the branch tip again (add --skip-existing to start none of them)"
        )
