"""The state file's journal: what a poll acted on survives a process killed before the poll's one write."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from rollout.gitops.errors import GitOpsError
from rollout.gitops.state import FileRecord, SourceState, StateFile

SOURCE = "repo#main:e"
A = FileRecord("b1", "c1", {"demo/a": "v2"}, "started")
B = FileRecord("b2", "c1", {"demo/b": "v1"}, "started")


def test_a_record_journaled_mid_poll_survives_a_process_killed_before_the_state_is_written(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "state.json")
    file.save(SOURCE, SourceState("c0", {"e/old.yaml": B}))
    file.record(SOURCE, "e/a.yaml", A)
    file.record(SOURCE, "e/old.yaml", None)  # removed at the new tip

    restarted = StateFile(tmp_path / "state.json").load(SOURCE)

    assert restarted == SourceState("c0", {"e/a.yaml": A}), "the last processed commit is still the old one"


def test_writing_the_state_takes_the_journal_in_and_a_kill_before_the_journal_is_deleted_changes_nothing(
    tmp_path: Path,
) -> None:
    file = StateFile(tmp_path / "state.json")
    file.record(SOURCE, "e/a.yaml", A)
    file.record(SOURCE, "e/b.yaml", B)
    journal = file.journal_path.read_text()
    written = SourceState("c1", {"e/a.yaml": A, "e/b.yaml": B})

    file.save(SOURCE, written)
    assert not file.journal_path.exists()
    file.journal_path.write_text(journal)  # as if killed between the write and the deletion

    assert StateFile(tmp_path / "state.json").load(SOURCE) == written


def test_a_journal_line_cut_short_by_a_killed_process_is_skipped_and_the_next_line_starts_clean(
    tmp_path: Path,
) -> None:
    StateFile(tmp_path / "state.json").record(SOURCE, "e/a.yaml", A)
    with (tmp_path / "state.json.journal").open("a") as journal:
        journal.write('{"source": "repo#main:e", "path": "e/b.ya')  # killed mid-line
    assert StateFile(tmp_path / "state.json").load(SOURCE).files == {"e/a.yaml": A}

    StateFile(tmp_path / "state.json").record(SOURCE, "e/b.yaml", B)

    assert StateFile(tmp_path / "state.json").load(SOURCE).files == {"e/a.yaml": A, "e/b.yaml": B}


def test_writing_one_source_keeps_what_the_journal_holds_for_another(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "state.json")
    file.record("other#main:e", "e/a.yaml", A)
    file.save(SOURCE, SourceState("c1"))
    assert StateFile(tmp_path / "state.json").load("other#main:e").files == {"e/a.yaml": A}


def test_a_broken_journal_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "state.json.journal").write_text("not json\n")
    with pytest.raises(GitOpsError) as raised:
        StateFile(tmp_path / "state.json").load(SOURCE)
    assert str(raised.value) == (
        f"the state file's journal {tmp_path / 'state.json.journal'} cannot be used: a line is not JSON; fix it, "
        "or delete it (what was started since the last completed poll is then started again)"
    )


def _scan(state: SourceState, key: str) -> str | None:
    """``owner`` as it was: the first file, in the files' order, whose record names the key."""
    return next((path for path, record in state.files.items() if key in record.experiments), None)


KEYS = ("demo/a", "demo/b", "demo/c")


def _record(rng: random.Random) -> FileRecord:
    keys = rng.sample(KEYS, rng.randint(0, 2))
    return FileRecord(f"b{rng.randint(0, 9)}", "c1", {k: "v2" for k in keys}, rng.choice(["started", "invalid"]))


@pytest.mark.parametrize("seed", range(5))
def test_the_owner_index_answers_as_a_scan_of_the_files_in_order_through_every_change(seed: int) -> None:
    rng = random.Random(seed)
    state = SourceState("c0", {f"e/{i}.yaml": _record(rng) for i in range(4)})
    for _ in range(300):
        path, roll = f"e/{rng.randint(0, 6)}.yaml", rng.random()
        if roll < 0.5:
            state.files[path] = _record(rng)
        elif roll < 0.65:
            state.files.pop(path, None)
        elif roll < 0.75 and path in state.files:
            del state.files[path]
        elif roll < 0.85:
            state.files.setdefault(path, _record(rng))
        elif roll < 0.95:
            state.files.update({path: _record(rng)})
        else:
            state.files = {path: _record(rng), **state.files}  # a new mapping is indexed too
        assert [state.owner(k) for k in KEYS] == [_scan(state, k) for k in KEYS]


def test_the_owner_index_after_a_restart_replays_the_journal_in_order(tmp_path: Path) -> None:
    a_and_b = FileRecord("b3", "c1", {"demo/a": "v2", "demo/b": "v1"}, "invalid")
    file = StateFile(tmp_path / "state.json")
    file.save(SOURCE, SourceState("c0", {"e/a.yaml": A, "e/b.yaml": B}))
    file.record(SOURCE, "e/c.yaml", FileRecord("b4", "c1", {"demo/c": "v2"}, "started"))
    file.record(SOURCE, "e/a.yaml", None)  # removed: demo/a is free
    file.record(SOURCE, "e/0.yaml", a_and_b)  # after e/b.yaml in the order, though it sorts first
    file.record(SOURCE, "e/c.yaml", FileRecord("b5", "c1", {}, "started"))  # let demo/c go

    restarted = StateFile(tmp_path / "state.json").load(SOURCE)

    assert [restarted.owner(k) for k in KEYS] == ["e/0.yaml", "e/b.yaml", None]
    assert [restarted.owner(k) for k in KEYS] == [_scan(restarted, k) for k in KEYS]
    file.save(SOURCE, restarted)  # written sorted: e/0.yaml now comes first
    rewritten = StateFile(tmp_path / "state.json").load(SOURCE)
    assert [rewritten.owner(k) for k in KEYS] == ["e/0.yaml", "e/0.yaml", None]
    assert [rewritten.owner(k) for k in KEYS] == [_scan(rewritten, k) for k in KEYS]
