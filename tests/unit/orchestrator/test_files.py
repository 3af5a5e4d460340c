"""Files written whole (status, journal, queues): the mode a user expects, and never half-written."""

from __future__ import annotations

import stat
from pathlib import Path

from rollout.files import read_json, write_json_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_the_mode_open_would_give_it(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "status.json", {"phase": "Succeeded"})
    (tmp_path / "plain.json").write_text("{}")
    assert _mode(tmp_path / "status.json") == _mode(tmp_path / "plain.json"), "not mkstemp's 0600"


def test_a_replaced_file_keeps_its_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text("{}")
    path.chmod(0o604)
    write_json_atomic(path, {"events": []})
    assert _mode(path) == 0o604
    assert read_json(path) == {"events": []}
    assert [p.name for p in tmp_path.iterdir()] == ["journal.json"]


def test_only_ordinary_files_are_replaced_whole_devices_and_pipes_are_written_in_place(tmp_path: Path) -> None:
    import os

    from rollout.files import replaced_whole, write_output

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert replaced_whole(tmp_path / "new.html") and replaced_whole(tmp_path)  # a folder fails when written
    assert not replaced_whole(Path("/dev/stdout")), "renaming over it would replace the device for everyone"
    assert not replaced_whole(fifo) and not replaced_whole(Path("/proc/self/fd/1"))
    assert replaced_whole(Path("/dev/shm/status.json"))
    write_output(Path("/dev/null"), "nothing")
    assert Path("/dev/null").is_char_device()
