"""The trigger's decisions, without git: which files to act on, start or update, and the provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.gitops.errors import GitOpsError
from rollout.gitops.repo import CommitInfo, display_url
from rollout.gitops.state import FileRecord, SourceState, StateFile
from rollout.gitops.trigger import (
    Action,
    actions_for,
    annotate,
    changes,
    experiment_files,
    is_force_push,
    normalize_path,
    parse_experiment_file,
    unblocked,
)
from rollout.spec import load_experiment_text
from rollout.status import source_from

COMMIT = CommitInfo("a" * 40, "Ann Example <ann@example.com>", "Canary v2\n\nBecause.")


def state(**files: FileRecord) -> SourceState:
    return SourceState("c" * 40, {path.replace("__", "/"): record for path, record in files.items()})


@pytest.mark.parametrize(
    ("given_path", "expected"),
    [("experiments/", "experiments"), ("./experiments", "experiments"), ("/", ""), (".", ""), ("a/b.yaml", "a/b.yaml")],
)
def test_paths_are_normalised(given_path: str, expected: str) -> None:
    assert normalize_path(given_path) == expected


def test_only_yaml_files_are_experiments() -> None:
    files = {"e/a.yaml": "1", "e/b.yml": "2", "e/README.md": "3", "e/c.json": "4"}
    assert experiment_files(files) == {"e/a.yaml": "1", "e/b.yml": "2"}


def test_new_and_changed_content_is_acted_on_and_unchanged_content_is_not() -> None:
    known = state(e__same=FileRecord("blob1", "c1"), e__edited=FileRecord("old", "c1"), e__gone=FileRecord("b", "c1"))
    found = changes({"e/same": "blob1", "e/edited": "new", "e/added": "b3"}, known)
    assert found.changed == ("e/added", "e/edited")
    assert found.removed == ("e/gone",)


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["x", "y", "z"])))
def test_acting_on_every_change_leaves_nothing_to_do(tip: dict[str, str]) -> None:
    known = state(a=FileRecord("x", "c"), b=FileRecord("y", "c"))
    found = changes(tip, known)
    for path in found.changed:
        known.files[path] = FileRecord(tip[path], "c")
    for path in found.removed:
        del known.files[path]
    again = changes(tip, known)
    assert again.changed == () and again.removed == ()


def test_a_force_push_is_a_last_commit_that_is_gone_or_not_behind_the_tip() -> None:
    assert not is_force_push(None, False, False), "a first run is no force-push"
    assert not is_force_push("c", True, True)
    assert is_force_push("c", True, False)
    assert is_force_push("c", False, False)


def test_a_new_experiment_starts_a_new_canary_version_restarts_and_other_changes_update() -> None:
    known = state(e__a=FileRecord("b1", "c", {"demo/a": "v2", "demo/b": "v1"}))
    actions, problems = actions_for("e/a", [("demo/a", "v3"), ("demo/b", "v1"), ("demo/c", "v1")], known)
    assert problems == []
    assert actions == [
        Action("start", "demo/a", "v3", "canary version v2 -> v3"),
        Action("update", "demo/b", "v1", "spec changed (canary still v1)"),
        Action("start", "demo/c", "v1", "new experiment"),
    ]


def test_an_experiment_owned_by_another_file_is_a_problem_unless_that_file_is_changing() -> None:
    known = state(e__a=FileRecord("b1", "c", {"demo/a": "v2"}))
    actions, problems = actions_for("e/b", [("demo/a", "v2")], known)
    assert actions == []
    assert problems == [
        "e/b:1:1 metadata.name: experiment demo/a is already started from e/a; "
        "give this one another name or namespace, or remove it from one of the files"
    ]
    moved, none = actions_for("e/b", [("demo/a", "v2")], known, unsettled={"e/a"})
    assert none == [] and moved == [Action("update", "demo/a", "v2", "spec changed (canary still v2)")]


def test_an_experiment_twice_in_one_file_is_a_problem() -> None:
    actions, problems = actions_for("e/a", [("demo/a", "v2"), ("demo/a", "v3")], SourceState())
    assert actions == [] and problems == [
        "e/a:1:1 metadata.name: experiment demo/a is defined twice in this file; keep one"
    ]


def test_annotations_name_the_commit_and_keep_the_users_own() -> None:
    text = (Path(__file__).resolve().parents[3] / "experiments" / "demo-healthy.yaml").read_text()
    document = parse_experiment_file(text, "demo.yaml").documents[0]
    document["metadata"]["annotations"] = {"team": "payments"}
    annotated = annotate(document, COMMIT, "https://git.example/deploy.git", "experiments/demo.yaml")

    annotations = annotated["metadata"]["annotations"]
    assert annotations["team"] == "payments"
    assert annotations["meshroll.io/commit-sha"] == "a" * 40
    assert annotations["meshroll.io/commit-author"] == "Ann Example <ann@example.com>"
    assert annotations["meshroll.io/commit-message"] == "Canary v2\n\nBecause."
    assert "meshroll.io/commit-sha" not in document["metadata"]["annotations"], "the input is not changed"
    experiment = load_experiment_text(json.dumps(annotated))
    source = source_from(experiment.metadata.annotations)
    assert source is not None and source.path == "experiments/demo.yaml" and source.repo.endswith("deploy.git")


def test_credentials_in_a_repository_url_are_never_shown() -> None:
    assert display_url("https://bot:ghp_SECRET@github.com/o/r.git") == "https://***@github.com/o/r.git"
    assert display_url("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_the_state_file_round_trips_and_keeps_other_sources(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "state.json")
    one = SourceState("c1", {"e/a.yaml": FileRecord("b1", "c1", {"demo/a": "v2"}, "started")})
    file.save("repo#main:e", one)
    file.save("other#main:e", SourceState("c9"))
    assert StateFile(tmp_path / "state.json").load("repo#main:e") == one
    assert file.load("other#main:e").commit == "c9"
    assert file.load("unknown") == SourceState()


def test_a_broken_state_file_is_one_line_that_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{broken")
    with pytest.raises(GitOpsError) as raised:
        StateFile(path).load("repo#main:e")
    assert str(raised.value) == (
        f"the state file {path} cannot be used: it is not valid JSON; fix it, or delete it to start the experiments "
        "at the branch tip again (add --skip-existing to start none of them)"
    )
    path.write_text('{"version": 99, "sources": {}}')
    with pytest.raises(GitOpsError, match="not a version 1 meshroll gitops state"):
        StateFile(path).load("repo#main:e")


@pytest.mark.parametrize(
    "entry",
    [
        {"commit": 5, "files": {}},
        {"commit": "c1", "files": {"e/a.yaml": {"blob": 1, "commit": "c1"}}},
        {"commit": "c1", "files": {"e/a.yaml": {"blob": "b1", "commit": "c1", "experiments": ["demo/a"]}}},
        {"commit": "c1", "files": {"e/a.yaml": {"blob": "b1", "commit": "c1", "experiments": {"demo/a": 2}}}},
    ],
)
def test_a_state_file_with_values_of_the_wrong_type_is_one_line_too(tmp_path: Path, entry: object) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "sources": {"repo#main:e": entry}}))
    with pytest.raises(GitOpsError, match="its entries do not have the expected fields; fix it, or delete it"):
        StateFile(path).load("repo#main:e")


def test_a_file_refused_for_another_files_experiment_is_unblocked_once_no_other_file_holds_it() -> None:
    state = SourceState(
        "c1",
        {
            "e/a.yaml": FileRecord("b1", "c1", {"demo/a": "v2"}),
            "e/b.yaml": FileRecord("b2", "c2", {}, "invalid", ["demo/a"]),
        },
    )
    assert unblocked(state) == []
    state.files["e/a.yaml"] = FileRecord("b3", "c3", {"demo/other": "v2"})
    assert unblocked(state) == ["e/b.yaml"]
    del state.files["e/a.yaml"]
    assert unblocked(state) == ["e/b.yaml"]


def test_a_records_conflicts_survive_the_state_file(tmp_path: Path) -> None:
    file = StateFile(tmp_path / "state.json")
    state = SourceState("c1", {"e/b.yaml": FileRecord("b2", "c2", {}, "invalid", ["demo/a"])})
    file.save("repo#main:e", state)
    assert StateFile(tmp_path / "state.json").load("repo#main:e") == state
