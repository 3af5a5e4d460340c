"""Consoles and the one-line error convention."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from rollout.files import replaced_whole
from rollout.spec.durations import parse_duration

console = Console(highlight=False, soft_wrap=True)  # a long line is one line, in a pipe too (no wrap at 80)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``meshroll: message`` on stderr as one line and exit with ``code``."""
    err_console.print(f"meshroll: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


def option_seconds(text: str, option: str) -> float:
    """Seconds from an option's duration, like 30s or 2m, or from a bare number of seconds (``60``);
    one line naming ``option`` when it is neither."""
    value = text.strip()
    try:
        return float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else parse_duration(value)
    except ValueError:
        fail(f"{option} {text!r} is not a duration; write it like 30s, 2m or 1h (a bare number is seconds)")


def check_folder_path(folder: Path, option: str, given: Path | None = None) -> None:
    """Fail in one line when a file stands where ``folder``, or one of the folders above it, must be a
    folder (``given``: the path the user gave, named in the message)."""
    for part in (folder, *folder.parents):
        try:
            if not part.exists():
                continue
            if part.is_dir():
                return
        except OSError:  # not allowed to look: the write says what is wrong
            return
        where = "is" if part == (given or folder) else f"{part} is"
        fail(f"{option} {given or folder}: {where} a file, not a folder; choose a folder you can write to")


def check_writable(folder: Path, option: str, given: Path | None = None) -> None:
    """Fail in one line unless ``folder`` exists (or can be made) and takes new files: checked before
    the work whose results go there, not after it."""
    check_folder_path(folder, option, given)
    probe = folder / ".meshroll-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        fail(f"{option} {folder}: cannot write there ({exc.strerror or exc}); choose a folder you can write to")


def check_output_file(path: Path, option: str) -> None:
    """Fail in one line unless ``path`` can take a file meshroll replaces whole (write a new one, rename
    it over the old): not a folder, not a device, pipe or system file (renaming over ``/dev/stdout``
    would replace the device itself), in a folder it can write to."""
    if path.is_dir():
        fail(f"{option} {path}: is a folder; give the path of a file (in it or elsewhere)")
    if not replaced_whole(path):
        fail(f"{option} {path}: is not an ordinary file; meshroll replaces this file whole: give the path of one")
    check_writable(path.parent, option, path)


class _WarningLine(logging.Formatter):
    """``meshroll: warning: message``: one line, as every other line meshroll writes to stderr (a failing
    notifier's traceback stays out of a run's output)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"meshroll: {record.levelname.lower()}: {record.getMessage()}"


def warnings_to_stderr() -> None:
    """Show meshroll's warnings and errors (a notifier left out, one that failed) as meshroll's lines."""
    logger = logging.getLogger("meshroll")
    if any(isinstance(h.formatter, _WarningLine) for h in logger.handlers):
        return
    handler = _Stderr(logging.WARNING)
    handler.setFormatter(_WarningLine())
    logger.addHandler(handler)


class _Stderr(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (a stream kept from the start may since have been replaced)."""

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(OSError, ValueError):  # stderr closed or gone: nothing to tell it to
            sys.stderr.write(self.format(record) + "\n")
