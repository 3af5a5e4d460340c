"""The write-back's pure parts: the option, the note's line, the trailer, the outbox and its place in the state file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rollout.gitops.outbox import SECTION, Outbox, Watched
from rollout.gitops.outcome import (
    LEFT_LIMIT,
    Outcome,
    parse_write_back,
    revert_branch,
    revert_message,
    reverted_of,
    superseded,
)
from rollout.gitops.state import FileRecord, SourceState, StateFile
from rollout.status import Phase, Source, Status, Traffic

SHA = "0123456789abcdef0123456789abcdef01234567"
ROLLED_BACK = Outcome("shop/checkout", SHA, "rolled back", "rollback: error-rate: 5% vs 1%", 2, 25, "e/c.yaml")


def test_the_option_takes_one_kind_or_a_comma_list_and_names_a_wrong_one() -> None:
    assert parse_write_back("notes") == {"notes"}
    assert parse_write_back("notes, revert-branch") == {"notes", "revert-branch"}
    with pytest.raises(ValueError, match="--write-back 'branch' is not one of notes, revert-branch"):
        parse_write_back("notes,branch")
    with pytest.raises(ValueError, match="--write-back '' has an empty item"):
        parse_write_back("")
    with pytest.raises(ValueError, match="--write-back 'notes,' has an empty item; give notes or revert-branch"):
        parse_write_back("notes,")


def test_the_line_names_the_key_outcome_where_and_reason_on_one_line() -> None:
    assert ROLLED_BACK.line == "shop/checkout: rolled back at step 2 (canary 25%): rollback: error-rate: 5% vs 1%"
    assert Outcome("a/b", SHA, "superseded", "by x\nnow").line == "a/b: superseded: by x now"


def test_a_revert_names_its_branch_and_carries_the_trailer_the_sync_reads() -> None:
    assert revert_branch(ROLLED_BACK) == "meshroll/revert/shop.checkout-01234567"
    message = revert_message(ROLLED_BACK, "Canary v2")
    assert message.startswith(
        'Revert e/c.yaml to before "Canary v2"\n\nmeshroll rolled back shop/checkout (started from 01234567'
    )
    assert f"This reverts the change commit {SHA} made to e/c.yaml.\n\nMeshroll-Revert-Of: {SHA}\n" in message
    assert "left as they are" not in message, "the commit changed nothing else"
    assert reverted_of(message) == SHA
    assert reverted_of("Canary v3\n\nMeshroll-Revert-Of: nope") is None


def test_a_revert_of_one_file_lists_the_other_paths_its_commit_changed_as_left_alone() -> None:
    others = [f"e/{n}.yaml" for n in range(LEFT_LIMIT + 2)]
    message = revert_message(ROLLED_BACK, "Canaries", ["e/cart.yaml"])
    assert "Its changes to these other paths are left as they are:\n- e/cart.yaml\n\nMeshroll-Revert-Of:" in message
    many = revert_message(ROLLED_BACK, "Canaries", others)
    assert f"- e/{LEFT_LIMIT - 1}.yaml\n- and 2 more\n" in many and f"e/{LEFT_LIMIT}.yaml" not in many
    assert reverted_of(many) == SHA
    whole = revert_message(replace(ROLLED_BACK, path=""), "Canary v2")  # an outcome kept before it named its file
    assert whole.startswith('Revert "Canary v2"\n') and f"This reverts commit {SHA}." in whole


def test_a_run_replaced_before_it_ended_is_superseded_where_it_was_and_one_that_had_ended_keeps_its_end() -> None:
    running = Status(phase=Phase.PROGRESSING, step=1, traffic=Traffic(canary_weight=25), source=Source(commit=SHA))
    assert superseded("a/b", SHA, "f" * 40, running).line == (
        "a/b: superseded at step 2 (canary 25%): superseded by commit ffffffff before it ended"
    )
    ended = running.model_copy(update={"phase": Phase.INCONCLUSIVE, "reason": "maxDuration reached"})
    assert superseded("a/b", SHA, "f" * 40, ended).outcome == "inconclusive"


def test_the_outbox_queues_a_revert_branch_for_a_rollback_only_and_nothing_twice() -> None:
    outbox = Outbox()
    both = frozenset({"notes", "revert-branch"})
    outbox.add(ROLLED_BACK, both)
    outbox.add(ROLLED_BACK, both)
    outbox.add(Outcome("a/b", SHA, "promoted", "promote"), both)
    assert [p.todo for p in outbox.pending] == [["notes", "revert-branch"], ["notes"]]
    outbox.done(ROLLED_BACK, "notes")
    assert outbox.due("revert-branch") == [ROLLED_BACK] and len(outbox.due("notes")) == 1
    outbox.watched["a/b"] = Watched("a/b", SHA, "e/b.yaml", 3)
    assert Outbox.from_raw(json.loads(json.dumps(outbox.raw()))) == outbox
    with pytest.raises(ValueError):
        Outbox.from_raw({"pending": [{"outcome": {"key": 1}}]})


def test_an_old_state_file_without_write_back_loads_and_the_section_survives_the_polls_writes(tmp_path: Path) -> None:
    old = {"version": 1, "sources": {"s": {"commit": "c1", "files": {"e/a.yaml": {"blob": "b", "commit": "c1"}}}}}
    path = tmp_path / "state.json"
    path.write_text(json.dumps(old))
    state = StateFile(path)
    assert state.load_section(SECTION, "s") is None and Outbox.from_raw(None) == Outbox()
    assert state.load("s").commit == "c1"

    state.record("s", "e/b.yaml", FileRecord("b2", "c2"))
    state.save_section(SECTION, "s", Outbox().raw())
    assert state.load("s").files["e/b.yaml"] == FileRecord("b2", "c2"), "the journal still replays"
    state.save("s", SourceState("c2", state.load("s").files))
    assert state.load_section(SECTION, "s") == {"watched": [], "pending": []}, "kept by the poll's write"
