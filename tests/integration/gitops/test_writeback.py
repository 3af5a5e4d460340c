"""``--write-back`` against real git: notes and revert branches pushed to a bare remote, read back with git.

The runs are ``LocalStarter`` processes of a stand-in for ``meshroll run`` that writes, as its status,
the status a real ``meshroll run`` of a rolled-back experiment wrote (made once per module), with the
commit it was started from as its source; the outcome is then read by the same code the reaper uses.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rollout.gitops import GitOpsSync, GitRepo, LocalStarter, Reporter, StateFile
from rollout.gitops.watch import LocalOutcomes
from rollout.gitops.writeback import WriteBack
from tests.integration.gitops.gitrepo import Origin, experiment_yaml, git
from tests.integration.gitops.test_sync import RecordingAnnouncer

pytestmark = pytest.mark.timeout(120)

# Stands in for "meshroll run SPEC --status-out STATUS": the status from $STATUS_TEMPLATE (or, for an experiment
# named cart, $STATUS_TEMPLATE_CART when set), its source the spec's commit.
STAND_IN = """
import json, os, sys, yaml
spec, status = sys.argv[2], sys.argv[4]
metadata = yaml.safe_load(open(spec))["metadata"]
commit = metadata["annotations"]["meshroll.io/commit-sha"]
named = os.environ.get("STATUS_TEMPLATE_" + metadata["name"].upper())
template = json.load(open(named or os.environ["STATUS_TEMPLATE"]))
template["source"] = {"commit": commit}
open(status, "w").write(json.dumps(template))
sys.exit({"RolledBack": 2, "Succeeded": 0}.get(template["phase"], 1))
"""


@pytest.fixture(scope="module")
def rolled_back(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The status a real ``meshroll run`` of a canary that errors on 30% of requests wrote (it rolls back)."""
    folder = tmp_path_factory.mktemp("real-run")
    (folder / "e.yaml").write_text(experiment_yaml("checkout"))
    run = subprocess.run(
        [sys.executable, "-c", "from rollout.cli import main; main()", "run", "e.yaml", "--status-out", "status.json"],
        cwd=folder, capture_output=True, text=True, timeout=90,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    return folder / "status.json"


@pytest.fixture
def promoted(rolled_back: Path, tmp_path: Path) -> Path:
    """That status as a promotion would end it (the canary at 100%, the promote decision's reason)."""
    status = json.loads(rolled_back.read_text())
    last = status["history"][-1]
    decided = {**status["history"][-2], "toPhase": "Promoting", "reason": "promote: error-rate: non-inferior"}
    decided["traffic"] = {**decided["traffic"], "canaryWeight": 100}
    done = {**last, "fromPhase": "Promoting", "toPhase": "Succeeded", "traffic": decided["traffic"]}
    done["reason"] = decided["reason"]
    status.update(phase="Succeeded", verdict="promote", reason=decided["reason"], traffic=decided["traffic"])
    status["history"] = [*status["history"][:-2], decided, done]
    file = tmp_path / "promoted.json"
    file.write_text(json.dumps(status))
    return file


class Trigger:
    """One ``meshroll gitops --local --write-back ...`` process: new objects over the same folders and state."""

    def __init__(self, origin: Origin, root: Path, kinds: str, announcer: RecordingAnnouncer | None = None) -> None:
        work = root / "state.d"
        self.starter = LocalStarter(work, command=[sys.executable, "-c", STAND_IN])
        reporter = Reporter([announcer] if announcer else [])
        self.sync = GitOpsSync(GitRepo(origin.url, work), "main", "experiments/", StateFile(root / "state.json"),
                               self.starter, reporter)  # fmt: skip
        self.writeback = WriteBack(frozenset(kinds.split(",")), self.sync, LocalOutcomes(self.starter))
        self.sync.starter = self.writeback.wrap(self.starter)

    def poll_and_finish(self) -> bool:
        """A poll, the runs it started run to their end, then the write-back (as the Poller's next round)."""
        self.sync.poll()
        deadline = time.monotonic() + 30
        while any(r.process.poll() is None for r in self.starter.runs.values()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return self.writeback.after_poll()


def remote_note(origin: Origin, sha: str) -> list[str]:
    shown = subprocess.run(["git", "--git-dir", str(origin.bare), "notes", "--ref", "meshroll", "show", sha],
                           capture_output=True, text=True)  # fmt: skip
    return shown.stdout.splitlines() if shown.returncode == 0 else []


def tree(origin: Origin, commit: str) -> dict[str, str]:
    """Every file at ``commit`` of the remote: path -> blob."""
    out = git(origin.bare, "ls-tree", "-r", commit)
    return {name: meta.split()[2] for meta, _, name in (line.partition("\t") for line in out.splitlines())}


def remote_branches(origin: Origin) -> list[str]:
    out = git(origin.bare, "for-each-ref", "--format=%(refname:short)", "refs/heads")
    return out.splitlines()


def canary_v2(origin: Origin) -> str:
    """Commit and push the checkout canary v2 (``experiments/checkout.yaml``); the commit's sha."""
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    sha = origin.commit("Canary v2")
    origin.push()
    return sha


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "remote")


def test_two_rollbacks_from_one_commit_get_one_note_each_line_and_a_revert_branch_each(
    origin: Origin, tmp_path: Path, rolled_back: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    origin.write("experiments/keep.yaml", experiment_yaml("keep", "v1"))
    parent = origin.commit("Keep")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    origin.write("experiments/cart.yaml", experiment_yaml("cart", "v2"))
    sha = origin.commit("Canaries v2 for checkout and cart")
    origin.push()
    git(origin.work, "notes", "--ref", "meshroll", "add", "-m", "demo/keep: promoted: by hand", parent)
    git(origin.work, "push", "--quiet", "origin", "refs/notes/meshroll")  # someone else's note: merged, not lost

    assert Trigger(origin, tmp_path, "notes,revert-branch").poll_and_finish()

    lines = remote_note(origin, sha)
    assert len(lines) == 2
    reason = json.loads(rolled_back.read_text())["reason"]
    assert f"demo/cart: rolled back at step 1 (canary 50%): {reason}" in lines
    assert f"demo/checkout: rolled back at step 1 (canary 50%): {reason}" in lines
    assert remote_note(origin, parent) == ["demo/keep: promoted: by hand"]
    branches = remote_branches(origin)
    assert sorted(branches) == [
        "main",
        f"meshroll/revert/demo.cart-{sha[:8]}",
        f"meshroll/revert/demo.checkout-{sha[:8]}",
    ]
    branch = f"refs/heads/meshroll/revert/demo.checkout-{sha[:8]}"
    assert git(origin.bare, "rev-parse", f"{branch}^") == sha, "one commit on the watched branch's tip"
    assert tree(origin, branch) == {
        "experiments/cart.yaml": tree(origin, sha)["experiments/cart.yaml"],  # cart's own branch reverts it
        "experiments/keep.yaml": tree(origin, parent)["experiments/keep.yaml"],
    }
    message = git(origin.bare, "log", "-1", "--format=%B", branch)
    assert f"Meshroll-Revert-Of: {sha}" in message and "meshroll rolled back demo/checkout" in message
    assert "- experiments/cart.yaml" in message, "the commit's other change is named as left alone"
    assert git(origin.bare, "rev-parse", "refs/heads/main") == sha, "the watched branch is never pushed to"


def test_a_relative_state_path_as_the_default_one_still_makes_the_revert_branch(
    origin: Origin, tmp_path: Path, rolled_back: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--state defaults to .meshroll/gitops-state.json: the mirror's worktree must not land relative to it."""
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    sha = canary_v2(origin)
    monkeypatch.chdir(tmp_path)

    assert Trigger(origin, Path(".meshroll"), "notes,revert-branch").poll_and_finish()

    assert remote_branches(origin) == ["main", f"meshroll/revert/demo.checkout-{sha[:8]}"]


def test_a_promoted_run_gets_a_note_and_no_revert_branch(
    origin: Origin, tmp_path: Path, promoted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATUS_TEMPLATE", str(promoted))
    sha = canary_v2(origin)

    assert Trigger(origin, tmp_path, "notes,revert-branch").poll_and_finish()

    assert remote_note(origin, sha) == [
        "demo/checkout: promoted at step 1 (canary 100%): promote: error-rate: non-inferior"
    ]
    assert remote_branches(origin) == ["main"]
    git(origin.work, "fetch", "--quiet", "origin", "refs/notes/meshroll:refs/notes/meshroll")
    log = git(origin.work, "log", "--notes=meshroll", "-1", sha)
    assert "demo/checkout: promoted at step 1 (canary 100%)" in log


def test_a_revert_undoes_the_rolled_back_file_alone_and_keeps_the_rest_of_its_commit(
    origin: Origin,
    tmp_path: Path,
    rolled_back: Path,
    promoted: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    monkeypatch.setenv("STATUS_TEMPLATE_CART", str(promoted))
    origin.write("config/app.yaml", "replicas: 2\n")
    origin.commit("App")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.write("experiments/cart.yaml", experiment_yaml("cart"))
    origin.write("config/app.yaml", "replicas: 3\n")
    sha = origin.commit("Canaries v2 for checkout and cart, three replicas")
    origin.write("config/app.yaml", "replicas: 5\n")
    tip = origin.commit("Five replicas")  # `git revert` of sha would conflict here; the file's own revert does not
    origin.push()
    announcer = RecordingAnnouncer()

    trigger = Trigger(origin, tmp_path, "revert-branch", announcer)
    assert trigger.poll_and_finish()

    branch = f"meshroll/revert/demo.checkout-{sha[:8]}"
    assert remote_branches(origin) == ["main", branch], "cart was promoted: no branch for it"
    assert git(origin.bare, "rev-parse", f"{branch}^") == tip
    at_tip = tree(origin, tip)
    assert tree(origin, branch) == {p: b for p, b in at_tip.items() if p != "experiments/checkout.yaml"}
    message = git(origin.bare, "log", "-1", "--format=%B", branch)
    assert message.startswith('Revert experiments/checkout.yaml to before "Canaries v2 for checkout and cart')
    assert f"This reverts the change commit {sha} made to experiments/checkout.yaml." in message
    assert "left as they are:\n- config/app.yaml\n- experiments/cart.yaml\n" in message
    assert message.rstrip().endswith(f"Meshroll-Revert-Of: {sha}")
    assert [title for _, title, _ in announcer.notices] == [f"Revert branch {branch} pushed"]
    said = " ".join(announcer.notices[0][2])
    assert f"reverts the change {sha[:8]} made to experiments/checkout.yaml on top of main" in said
    assert "(its other changes, to config/app.yaml, experiments/cart.yaml, stay)" in said
    assert f"revert branch {branch} pushed: demo/checkout rolled back" in caplog.text, "a sentence in the log"

    git(origin.work, "fetch", "--quiet", "origin", branch)
    git(origin.work, "-c", "user.name=Ann", "-c", "user.email=a@x", "merge", "--quiet", "--no-ff", "-m",
        "Merge the revert", "FETCH_HEAD")  # fmt: skip
    origin.push()
    merged = trigger.sync.poll()
    assert merged.started == [] and merged.removed == ["experiments/checkout.yaml"]
    assert "experiments/cart.yaml" in trigger.sync.state.load(trigger.sync.source).files


def test_a_revert_that_does_not_apply_pushes_nothing_names_the_file_and_leaves_no_worktree(
    origin: Origin,
    tmp_path: Path,
    rolled_back: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v1"))
    origin.commit("Canary v1")
    sha = canary_v2(origin)
    announcer = RecordingAnnouncer()
    trigger = Trigger(origin, tmp_path, "revert-branch", announcer)
    trigger.sync.poll()  # v2 starts, and rolls back
    while trigger.starter.runs and any(r.process.poll() is None for r in trigger.starter.runs.values()):
        time.sleep(0.05)
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    newer = origin.commit("Canary v3")  # the line the revert of v2 would bring back to v1 changed again
    origin.push()

    assert trigger.poll_and_finish()  # v3 starts (and rolls back); v2's revert is made on top of v3

    assert remote_branches(origin) == ["main", f"meshroll/revert/demo.checkout-{newer[:8]}"]
    refused = [lines for _, title, lines in announcer.notices if title == "No revert branch for demo/checkout"]
    assert len(refused) == 1
    said = " ".join(refused[0])
    assert (
        f"demo/checkout rolled back ({sha[:8]}), but the revert of the change {sha[:8]} made to "
        "experiments/checkout.yaml does not apply cleanly on main (conflict in experiments/checkout.yaml)"
    ) in said
    assert f"nothing was pushed; revert the change {sha[:8]} made to experiments/checkout.yaml by hand" in said
    assert "no revert branch for demo/checkout: demo/checkout rolled back" in caplog.text, "a sentence in the log"
    mirror = trigger.sync.repo.mirror
    assert git(mirror, "worktree", "list").count("\n") == 0, "the throw-away worktree is gone"
    assert list((tmp_path / "state.d" / "reverts").iterdir()) == []
    trigger.starter.stop_all()


def test_a_remote_that_writes_its_own_prefix_is_quoted_with_one(
    origin: Origin, tmp_path: Path, rolled_back: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    canary_v2(origin)
    hook = origin.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'remote: pushes are refused here' >&2\nexit 1\n")
    hook.chmod(0o755)

    assert not Trigger(origin, tmp_path, "notes,revert-branch").poll_and_finish()

    assert f"cannot push refs/notes/meshroll to {origin.url}: remote: pushes are refused here; check" in caplog.text
    assert "revert branch for demo/checkout not pushed yet: cannot push" in caplog.text
    assert "remote: remote:" not in caplog.text


def test_a_refused_push_is_retried_at_the_next_poll_and_by_a_restart_and_written_once(
    origin: Origin, tmp_path: Path, rolled_back: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    sha = canary_v2(origin)
    hook = origin.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'no write access for meshroll' >&2\nexit 1\n")
    hook.chmod(0o755)

    first = Trigger(origin, tmp_path, "notes,revert-branch")
    assert not first.poll_and_finish()
    assert not first.writeback.after_poll(), "the next poll tries again"
    assert remote_note(origin, sha) == [] and remote_branches(origin) == ["main"]
    assert "outcomes not written back yet (1): cannot push refs/notes/meshroll to" in caplog.text
    assert "check that the remote accepts pushes from here" in caplog.text and "Traceback" not in caplog.text
    kept = json.loads((tmp_path / "state.json").read_text())["writeback"]
    assert [p["todo"] for p in next(iter(kept.values()))["pending"]] == [["notes", "revert-branch"]]

    hook.unlink()
    restarted = Trigger(origin, tmp_path, "notes,revert-branch")  # a new process: nothing in memory
    assert restarted.writeback.after_poll()
    again = Trigger(origin, tmp_path, "notes,revert-branch")
    assert again.writeback.after_poll()

    assert len(remote_note(origin, sha)) == 1, "written once"
    assert remote_branches(origin) == ["main", f"meshroll/revert/demo.checkout-{sha[:8]}"]


def test_a_revert_branch_deleted_unmerged_is_not_pushed_again_by_a_trigger_that_lost_its_state(
    origin: Origin, tmp_path: Path, rolled_back: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A declined pull request: its branch deleted. A new pod's trigger starts with an empty --state and
    watches the run's end again; the note is already there, and the branch is not pushed back."""
    caplog.set_level(logging.INFO, "meshroll.gitops")
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    sha = canary_v2(origin)
    assert Trigger(origin, tmp_path / "pod-1", "notes,revert-branch").poll_and_finish()
    branch = f"meshroll/revert/demo.checkout-{sha[:8]}"
    assert remote_branches(origin) == ["main", branch]
    git(origin.bare, "update-ref", "-d", f"refs/heads/{branch}")  # the pull request was declined

    assert Trigger(origin, tmp_path / "pod-2", "notes,revert-branch").poll_and_finish()

    assert remote_branches(origin) == ["main"], "not pushed again"
    assert len(remote_note(origin, sha)) == 1
    assert f"revert branch {branch} not pushed again to" in caplog.text and "deleted since" in caplog.text


def test_merging_the_revert_branch_starts_no_run_and_a_later_change_does(
    origin: Origin, tmp_path: Path, rolled_back: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    monkeypatch.setenv("STATUS_TEMPLATE", str(rolled_back))
    canary_v2(origin)
    trigger = Trigger(origin, tmp_path, "revert-branch")
    trigger.poll_and_finish()  # v2 rolls back too: a branch, left alone here
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    sha = origin.commit("Canary v3")
    origin.push()
    assert trigger.poll_and_finish()
    branch = f"meshroll/revert/demo.checkout-{sha[:8]}"

    git(origin.work, "fetch", "--quiet", "origin", branch)
    git(origin.work, "-c", "user.name=Ann", "-c", "user.email=a@x", "merge", "--quiet", "--no-ff", "-m",
        "Merge the revert", "FETCH_HEAD")  # fmt: skip
    origin.push()
    merged = trigger.sync.poll()

    assert merged.started == [], "the reverted-to file is not started again"
    assert "changed by" in caplog.text and f"which reverts {sha[:8]} after its rollback" in caplog.text
    record = trigger.sync.state.load(trigger.sync.source).files["experiments/checkout.yaml"]
    assert record.outcome == "reverted" and record.experiments == {"demo/checkout": "v2"}

    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v4"))
    origin.commit("Canary v4")
    origin.push()
    assert trigger.sync.poll().started == ["demo/checkout: canary version v2 -> v4"]
    trigger.starter.stop_all()


def test_a_bad_write_back_value_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from rollout.cli import main; main()", "gitops", "--repo", str(tmp_path),
         "--local", "--write-back", "notes,branch"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "meshroll: --write-back 'branch' is not one of notes, revert-branch; give notes or revert-branch, or both "
        "as notes,revert-branch"
    )
