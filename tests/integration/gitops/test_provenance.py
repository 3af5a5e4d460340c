"""The commit each started file is attributed to, found for all new files of a poll by one walk of the log.

Each test also asks ``git log -1 TIP -- FILE`` file by file (what a poll used to run per file) and
expects the same commit, and checks that the poll itself asked git about no file alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.gitops import GitOpsSync
from rollout.gitops.repo import CommitInfo
from tests.integration.gitops.gitrepo import ANN, BOB, Origin, experiment_yaml, git
from tests.integration.gitops.test_sync import RecordingStarter, make_sync

SHA = "meshroll.io/commit-sha"


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "remote")


def _poll(sync: GitOpsSync, starter: RecordingStarter, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Poll; the commit sha each file was started with. Fails when the poll asked git about one file alone."""
    alone: list[str] = []
    one_by_one = sync.repo.last_commit

    def last_commit(tip: str, path: str) -> CommitInfo:
        alone.append(path)
        return one_by_one(tip, path)

    before = len(starter.requests)
    with monkeypatch.context() as patch:
        patch.setattr(sync.repo, "last_commit", last_commit)
        result = sync.poll()
    assert alone == [], "every file's commit comes from the poll's one walk"
    started = {r.path: r.manifest["metadata"]["annotations"][SHA] for r in starter.requests[before:]}
    for path, sha in started.items():
        assert sha == one_by_one(result.tip, path).sha, f"{path}: not the commit git log names for it"
    return started


def _merge(origin: Origin, branch: str, message: str, *extra: str) -> str:
    name, email = ANN
    git(origin.work, "-c", f"user.name={name}", "-c", f"user.email={email}", "merge", "--quiet", *extra,
        "-m", message, branch)  # fmt: skip
    return origin.head()


def test_files_of_one_commit_and_a_file_changed_in_several_commits_between_polls(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.write("experiments/a.yaml", experiment_yaml("a"))
    origin.write("experiments/b.yaml", experiment_yaml("b"))
    origin.write("experiments/c.yaml", experiment_yaml("c"))
    both = origin.commit("a, b and c")
    origin.write("experiments/a.yaml", experiment_yaml("a", "v3"))
    origin.commit("a v3", BOB)
    origin.write("experiments/a.yaml", experiment_yaml("a", "v4"))
    a_v4 = origin.commit("a v4")
    origin.write("README.md", "unrelated\n")
    origin.commit("Docs")
    origin.push()
    starter = RecordingStarter()

    first = _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)

    assert first == {"experiments/a.yaml": a_v4, "experiments/b.yaml": both, "experiments/c.yaml": both}

    origin.write("experiments/b.yaml", experiment_yaml("b", "v3"))
    origin.write("experiments/d.yaml", experiment_yaml("d"))
    origin.commit("b v3 and d")
    origin.write("experiments/b.yaml", experiment_yaml("b", "v4"))
    b_v4 = origin.commit("b v4", BOB)
    origin.write("experiments/c.yaml", experiment_yaml("c", "v3"))
    origin.remove("experiments/d.yaml")
    c_v3 = origin.commit("c v3; d removed")
    origin.push()

    second = _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)

    assert second == {"experiments/b.yaml": b_v4, "experiments/c.yaml": c_v3}


def test_a_merge_names_the_side_each_file_came_from_or_itself_when_it_combined_them(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.write("experiments/a.yaml", experiment_yaml("a"))
    origin.write("experiments/both.yaml", experiment_yaml("both"))
    origin.commit("Initial")
    origin.push()
    starter = RecordingStarter()
    _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)
    git(origin.work, "checkout", "--quiet", "-b", "side")
    origin.write("experiments/side.yaml", experiment_yaml("side"))
    origin.write("experiments/both.yaml", experiment_yaml("both", "v3") + "# side\n")
    side = origin.commit("side: a new file, and both edited", BOB)
    git(origin.work, "checkout", "--quiet", "main")
    origin.write("experiments/a.yaml", experiment_yaml("a", "v3"))
    origin.write("experiments/both.yaml", "# main\n" + experiment_yaml("both", "v3"))
    main = origin.commit("main: a v3, and both edited")
    merge = _merge(origin, "side", "Merge side")  # both.yaml: both sides' lines, a change of the merge's own
    origin.push()

    started = _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)

    assert started == {"experiments/a.yaml": main, "experiments/side.yaml": side, "experiments/both.yaml": merge}


def test_a_branch_merged_without_fast_forward_names_its_own_commits(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.write("experiments/a.yaml", experiment_yaml("a"))
    origin.commit("Initial")
    origin.push()
    starter = RecordingStarter()
    _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)
    git(origin.work, "checkout", "--quiet", "-b", "feature")
    origin.write("experiments/a.yaml", experiment_yaml("a", "v3"))
    a_v3 = origin.commit("a v3", BOB)
    origin.write("experiments/b.yaml", experiment_yaml("b"))
    b = origin.commit("b")
    git(origin.work, "checkout", "--quiet", "main")
    _merge(origin, "feature", "Merge pull request #7", "--no-ff")  # the merge's tree is the feature's
    origin.push()

    started = _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)

    assert started == {"experiments/a.yaml": a_v3, "experiments/b.yaml": b}


def test_after_a_force_push_the_rewritten_commits_are_named(
    origin: Origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    origin.write("experiments/a.yaml", experiment_yaml("a"))
    base = origin.commit("Initial")
    origin.write("experiments/b.yaml", experiment_yaml("b"))
    origin.commit("b")
    origin.push()
    starter = RecordingStarter()
    _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)
    origin.reset_hard(base)
    origin.write("experiments/b.yaml", experiment_yaml("b", "v3"))
    b_v3 = origin.commit("b v3, rewritten")
    origin.write("experiments/c.yaml", experiment_yaml("c"))
    c = origin.commit("c", BOB)
    origin.push(force=True)

    started = _poll(make_sync(origin, tmp_path, starter), starter, monkeypatch)

    assert started == {"experiments/b.yaml": b_v3, "experiments/c.yaml": c}
