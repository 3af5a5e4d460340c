"""Small JSON files that must never be seen half-written: write a temporary file, then rename."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("meshroll.files")


def _umask() -> int:
    """The process's umask: Linux reports it; elsewhere set and restore it (briefly, at import)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_NEW_FILE_MODE = 0o666 & ~_umask()  # what open(path, "w") would give


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` whole with ``data`` as JSON (readers see the old or the new file, never a mix)."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False))


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` whole with ``text``: write a temporary file beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:  # mkstemp makes the file 0600: keep the mode an earlier file had, else what open() would give
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = _NEW_FILE_MODE
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


SYSTEM_FOLDERS = ("/dev/", "/proc/", "/sys/")  # of devices and the kernel's files (/dev/shm holds ordinary ones)


def replaced_whole(path: Path) -> bool:
    """Whether a rename may replace ``path``: an ordinary file, none yet, or a folder (which then fails
    to be written); not a device, pipe or system file (renaming over ``/dev/stdout``, even when it
    points at a file, replaces the device for every process)."""
    where = os.path.abspath(path)
    if where.startswith(SYSTEM_FOLDERS) and not where.startswith("/dev/shm/"):
        return False
    return not path.exists() or path.is_file() or path.is_dir()


def write_output(path: Path, text: str) -> None:
    """Write a file the user named: an ordinary file is replaced whole, so a write that fails leaves the
    earlier file as it was; ``/dev/stdout``, a pipe and the like are written in place."""
    if not replaced_whole(path) or path.is_dir():
        path.write_text(text, encoding="utf-8")  # a folder fails here with IsADirectoryError
        return
    write_text_atomic(path.resolve() if path.is_symlink() else path, text)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is missing or unreadable (logged, never raised)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable file %s (%s); it will be rewritten", path, type(exc).__name__)
        return None
