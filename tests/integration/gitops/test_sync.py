"""The GitOps trigger against real git: a bare origin, a working clone that commits and pushes, and polls.

What would be started is recorded by an in-memory starter (the real local and cluster starters have
their own tests); everything else (git, the mirror, the state file) is real.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from rollout.gitops import GitOpsSync, GitRepo, LocalStarter, Poller, Reporter, StartError, StartRequest, StateFile
from rollout.gitops.state import SourceState
from rollout.gitops.trigger import ExperimentFile, parse_experiment_file
from rollout.status import source_from
from tests.integration.gitops.gitrepo import BOB, BROKEN_YAML, Origin, experiment_yaml


class RecordingStarter:
    def __init__(self) -> None:
        self.requests: list[StartRequest] = []
        self.failures: dict[str, BaseException] = {}  # key -> what starting it raises (once)

    def start(self, request: StartRequest) -> None:
        failure = self.failures.pop(request.experiment.key, None)
        if failure is not None:
            raise failure
        self.requests.append(request)

    @property
    def keys(self) -> list[str]:
        return [r.experiment.key for r in self.requests]


class RecordingAnnouncer:
    def __init__(self) -> None:
        self.notices: list[tuple[str, str, list[str]]] = []

    def notice(self, emoji: str, title: str, lines: list[str]) -> None:
        self.notices.append((emoji, title, lines))

    def close(self, timeout: float = 10.0) -> bool:
        return True


class Crash(BaseException):
    """The process dies here (as with SIGKILL): nothing after this line runs."""


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "remote")


class CountingStateFile(StateFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0

    def save(self, source: str, state: SourceState) -> None:
        self.writes += 1
        super().save(source, state)


def make_sync(
    origin: Origin,
    tmp_path: Path,
    starter: object,
    announcer: RecordingAnnouncer | None = None,
    state: StateFile | None = None,
    **options: Any,
) -> GitOpsSync:
    """A fresh trigger process: new objects over the same work folder and state file."""
    work = tmp_path / "state.d"
    reporter = Reporter([announcer] if announcer else [])
    repo = GitRepo(origin.url, work)
    state = state or StateFile(tmp_path / "state.json")
    return GitOpsSync(repo, "main", "experiments/", state, starter, reporter, **options)  # type: ignore[arg-type]


def test_a_valid_experiment_starts_exactly_once_across_polls_and_restarts(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.commit("Add the checkout canary")
    origin.push()
    starter = RecordingStarter()

    first = make_sync(origin, tmp_path, starter).poll()
    again = make_sync(origin, tmp_path, starter).poll()
    origin.write("README.md", "unrelated change\n")
    origin.commit("Docs")
    origin.push()
    unrelated = make_sync(origin, tmp_path, starter).poll()

    assert starter.keys == ["demo/checkout"]
    assert starter.requests[0].action.kind == "start"
    assert starter.requests[0].action.reason == "new experiment"
    assert first.started == ["demo/checkout: new experiment"] and first.clean
    assert again.started == [] and unrelated.started == []


def test_the_annotations_carry_the_commit_sha_author_and_message(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    sha = origin.commit("Canary checkout v2\n\nWhy: faster carts.", BOB)
    origin.push()
    starter = RecordingStarter()

    make_sync(origin, tmp_path, starter).poll()

    request = starter.requests[0]
    annotations = request.manifest["metadata"]["annotations"]
    assert annotations == {
        "meshroll.io/commit-sha": sha,
        "meshroll.io/commit-author": "Bob Builder <bob@example.com>",
        "meshroll.io/commit-message": "Canary checkout v2\n\nWhy: faster carts.",
        "meshroll.io/source-repo": origin.url,
        "meshroll.io/source-path": "experiments/checkout.yaml",
    }
    assert request.experiment.metadata.annotations == annotations
    source = source_from(request.experiment.metadata.annotations)
    assert source is not None and source.commit == sha and source.author.startswith("Bob Builder")


def test_a_file_name_with_glob_characters_names_its_own_commit_not_one_of_a_file_it_would_match(
    origin: Origin, tmp_path: Path
) -> None:
    origin.write("experiments/a[1].yaml", experiment_yaml("bracketed"))
    added = origin.commit("Add a[1]")
    origin.write("experiments/a1.yaml", experiment_yaml("plain"))
    origin.commit("Add a1", BOB)
    origin.push()
    starter = RecordingStarter()

    make_sync(origin, tmp_path, starter).poll()

    commits = {r.path: r.manifest["metadata"]["annotations"]["meshroll.io/commit-sha"] for r in starter.requests}
    assert commits["experiments/a[1].yaml"] == added


def test_a_path_without_experiment_files_says_so_once_instead_of_passing_in_silence(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    origin.write("experiment/checkout.yaml", experiment_yaml("checkout"))  # not under experiments/
    tip = origin.commit("Add checkout")
    origin.push()
    poller = Poller(make_sync(origin, tmp_path, RecordingStarter()), interval=1)

    with caplog.at_level(logging.INFO, logger="meshroll"):
        first = poller.poll_once()
        again = poller.poll_once()  # the same tip
        origin.write("docs/readme.txt", "not an experiment")
        later = origin.commit("Docs")
        origin.push()
        third = poller.poll_once()  # a new tip, still nothing under the path

    assert first is not None and again is not None and third is not None
    assert first.started == [] and first.clean and first.unmatched and again.unmatched and third.unmatched
    expected = (
        f"no experiment file (.yaml, .yml) under experiments/ at commit {tip[:8]} of {origin.url} branch main "
        "(its YAML files are under experiment/); check the path (--path, or --gitops-path), or commit an "
        "experiment there: polling goes on, and starts it when it comes"
    )
    assert expected in caplog.text
    assert caplog.text.count("no experiment file") == 1, "said once, not at every poll"
    assert later[:8] not in caplog.text


def test_a_path_whose_files_were_all_removed_is_not_unmatched_in_the_poll_that_removes_them(
    origin: Origin, tmp_path: Path
) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.commit("Add checkout")
    origin.push()
    assert not make_sync(origin, tmp_path, RecordingStarter()).poll().unmatched
    origin.remove("experiments/checkout.yaml")
    origin.commit("Remove checkout")
    origin.push()

    result = make_sync(origin, tmp_path, RecordingStarter()).poll()

    assert result.removed == ["experiments/checkout.yaml"] and not result.unmatched


def test_an_invalid_file_is_reported_with_file_and_line_starts_nothing_and_its_sibling_proceeds(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    origin.write("experiments/broken.yaml", BROKEN_YAML)
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    sha = origin.commit("Two experiments, one broken")
    origin.push()
    starter, announcer = RecordingStarter(), RecordingAnnouncer()

    with caplog.at_level(logging.INFO, logger="meshroll"):
        result = make_sync(origin, tmp_path, starter, announcer).poll()
        again = make_sync(origin, tmp_path, starter, announcer).poll()

    assert starter.keys == ["demo/checkout"]
    assert result.invalid == ["experiments/broken.yaml"] and not result.clean
    assert "experiments/broken.yaml:5:3 spec.target.stable: required field is missing" in caplog.text
    assert "experiments/broken.yaml:4:1 spec.mesh: required field is missing" in caplog.text
    assert len(announcer.notices) == 1, "reported once, not at every poll"
    _, title, lines = announcer.notices[0]
    assert title == "Invalid experiment file experiments/broken.yaml"
    assert f"in commit {sha[:8]} by Ann Example <ann@example.com>" in lines[0]
    assert "experiments/broken.yaml:5:3 spec.target.stable: required field is missing" in lines
    assert again.invalid == [] and again.started == []

    origin.write("experiments/broken.yaml", experiment_yaml("broken"))
    origin.commit("Fix the broken experiment")
    origin.push()
    fixed = make_sync(origin, tmp_path, starter, announcer).poll()
    assert fixed.started == ["demo/broken: new experiment"]
    assert starter.keys == ["demo/checkout", "demo/broken"]


def test_a_symbolic_link_is_reported_as_one_and_never_followed(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text(experiment_yaml("outside"))
    (origin.work / "experiments").mkdir()
    (origin.work / "experiments" / "outside.yaml").symlink_to(outside)
    origin.commit("Link to a file outside the repository")
    origin.push()
    starter = RecordingStarter()

    result = make_sync(origin, tmp_path, starter).poll()

    assert result.invalid == ["experiments/outside.yaml"] and starter.requests == []
    expected = f"experiments/outside.yaml:1:1 (file): a symbolic link (to '{outside}'); links are not followed"
    assert expected in caplog.text


def test_a_new_canary_version_starts_a_new_rollout_and_other_changes_update_it(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    origin.commit("v2")
    origin.push()
    starter = RecordingStarter()
    make_sync(origin, tmp_path, starter).poll()

    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    v3 = origin.commit("Canary v3")
    origin.push()
    make_sync(origin, tmp_path, starter).poll()
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3", step_interval="5s"))
    origin.commit("Slower steps")
    origin.push()
    make_sync(origin, tmp_path, starter).poll()

    actions = [(r.action.kind, r.action.reason) for r in starter.requests]
    assert actions == [
        ("start", "new experiment"),
        ("start", "canary version v2 -> v3"),
        ("update", "spec changed (canary still v3)"),
    ]
    assert starter.requests[1].manifest["metadata"]["annotations"]["meshroll.io/commit-sha"] == v3
    assert starter.requests[2].experiment.spec.strategy is not None


def test_a_force_push_is_detected_reported_and_resynchronised(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = origin.commit("Initial commit")
    origin.write("experiments/cart.yaml", experiment_yaml("cart", "v2"))
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    old = origin.commit("Cart and checkout v2")
    origin.push()
    starter, announcer = RecordingStarter(), RecordingAnnouncer()
    make_sync(origin, tmp_path, starter, announcer).poll()

    origin.reset_hard(base)  # rewrite history: cart unchanged, checkout v3, a new search experiment
    origin.write("experiments/cart.yaml", experiment_yaml("cart", "v2"))
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    origin.write("experiments/search.yaml", experiment_yaml("search", "v5"))
    new = origin.commit("Rewritten: checkout v3 and search")
    origin.push(force=True)
    with caplog.at_level(logging.WARNING, logger="meshroll"):
        result = make_sync(origin, tmp_path, starter, announcer).poll()

    assert result.forced
    assert f"force-push detected on {origin.url} branch main" in caplog.text
    assert f"last processed commit {old[:8]} is no longer an ancestor of the tip {new[:8]}" in caplog.text
    assert announcer.notices[0][1] == f"Force-push detected on {origin.url} branch main"
    assert f"merge-base {base[:8]}" in announcer.notices[0][2][0]
    assert sorted(result.started) == ["demo/checkout: canary version v2 -> v3", "demo/search: new experiment"]
    assert starter.keys == ["demo/cart", "demo/checkout", "demo/checkout", "demo/search"], "cart is not restarted"
    assert make_sync(origin, tmp_path, starter, announcer).poll().started == []


def test_an_amended_commit_with_the_same_content_starts_nothing_again(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.commit("Checkout v2")
    origin.push()
    starter = RecordingStarter()
    make_sync(origin, tmp_path, starter).poll()

    origin.commit("Checkout v2 (typo in the message fixed)", amend=True)
    origin.push(force=True)
    result = make_sync(origin, tmp_path, starter).poll()

    assert result.forced and result.started == []
    assert starter.keys == ["demo/checkout"]


def test_a_restart_in_the_middle_of_a_poll_starts_only_what_was_not_started(origin: Origin, tmp_path: Path) -> None:
    for name in ("alpha", "bravo", "charlie"):
        origin.write(f"experiments/{name}.yaml", experiment_yaml(name))
    origin.commit("Three experiments")
    origin.push()
    starter = RecordingStarter()
    starter.failures["demo/bravo"] = Crash()

    with pytest.raises(Crash):
        make_sync(origin, tmp_path, starter).poll()
    resumed = make_sync(origin, tmp_path, starter).poll()
    after = make_sync(origin, tmp_path, starter).poll()

    assert starter.keys == ["demo/alpha", "demo/bravo", "demo/charlie"]
    assert resumed.started == ["demo/bravo: new experiment", "demo/charlie: new experiment"]
    assert after.started == []


def test_a_temporary_failure_is_tried_again_at_the_next_poll(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.commit("Checkout")
    origin.push()
    starter = RecordingStarter()
    starter.failures["demo/checkout"] = StartError("cannot reach the cluster; will retry", temporary=True)

    failed = make_sync(origin, tmp_path, starter).poll()
    retried = make_sync(origin, tmp_path, starter).poll()

    assert failed.deferred == ["experiments/checkout.yaml"] and failed.started == []
    assert retried.started == ["demo/checkout: new experiment"]
    assert StateFile(tmp_path / "state.json").load(make_sync(origin, tmp_path, starter).source).commit == origin.head()


def test_several_commits_between_polls_start_the_newest_content_with_its_commit(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    origin.commit("v2")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    v3 = origin.commit("v3", BOB)
    origin.write("README.md", "later, unrelated\n")
    origin.commit("Docs")
    origin.push()
    starter = RecordingStarter()

    make_sync(origin, tmp_path, starter).poll()

    assert [r.experiment.spec.target.canary.version for r in starter.requests] == ["v3"]
    annotations = starter.requests[0].manifest["metadata"]["annotations"]
    assert annotations["meshroll.io/commit-sha"] == v3
    assert annotations["meshroll.io/commit-author"] == "Bob Builder <bob@example.com>"


def test_skip_existing_records_the_tip_without_starting_and_later_changes_start(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    origin.commit("v2")
    origin.push()
    starter = RecordingStarter()
    make_sync(origin, tmp_path, starter, skip_existing=True).poll()
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    origin.commit("v3")
    origin.push()
    make_sync(origin, tmp_path, starter, skip_existing=True).poll()

    assert [(r.action.kind, r.action.reason) for r in starter.requests] == [("start", "canary version v2 -> v3")]


def test_skip_existing_counts_the_experiments_it_recorded_and_names_the_yaml_files_that_hold_none(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.write("experiments/pair.yaml", experiment_yaml("cart") + "---\n" + experiment_yaml("search"))
    origin.write("experiments/configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n")
    origin.write("experiments/broken.yaml", BROKEN_YAML)
    tip = origin.commit("Four YAML files, three experiments")
    origin.push()
    starter = RecordingStarter()

    with caplog.at_level(logging.INFO, logger="meshroll"):
        make_sync(origin, tmp_path, starter, skip_existing=True).poll()

    assert starter.keys == []
    assert (
        f"recorded 3 experiments from 2 files at {tip[:8]} without starting them (--skip-existing); 2 other YAML "
        "files hold no valid experiment (experiments/broken.yaml, experiments/configmap.yaml): nothing starts from "
        "them until a commit changes them"
    ) in caplog.text


def copy_experiment_into_a_second_file(origin: Origin, tmp_path: Path, starter: RecordingStarter) -> None:
    """a.yaml starts demo/checkout; then b.yaml, pushed but not yet polled, holds it too."""
    origin.write("experiments/a.yaml", experiment_yaml("checkout"))
    origin.commit("a")
    origin.push()
    make_sync(origin, tmp_path, starter).poll()
    origin.write("experiments/b.yaml", experiment_yaml("checkout", "v9"))
    origin.commit("b copies a")
    origin.push()


def test_the_same_experiment_in_two_files_is_reported_and_the_second_starts_nothing(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    starter = RecordingStarter()
    copy_experiment_into_a_second_file(origin, tmp_path, starter)

    result = make_sync(origin, tmp_path, starter).poll()

    assert result.invalid == ["experiments/b.yaml"]
    assert "experiment demo/checkout is already started from experiments/a.yaml" in caplog.text
    assert starter.keys == ["demo/checkout"]


@pytest.mark.parametrize("how", ["remove the first file", "edit it out of the first file"])
def test_a_duplicate_refused_for_another_files_experiment_starts_once_that_file_lets_it_go(
    origin: Origin, tmp_path: Path, how: str
) -> None:
    starter = RecordingStarter()
    copy_experiment_into_a_second_file(origin, tmp_path, starter)
    assert make_sync(origin, tmp_path, starter).poll().invalid == ["experiments/b.yaml"]
    if how == "remove the first file":
        origin.remove("experiments/a.yaml")
    else:
        origin.write("experiments/a.yaml", experiment_yaml("other"))
    origin.commit("keep checkout in b only, as the report said")
    origin.push()

    result = make_sync(origin, tmp_path, starter).poll()
    again = make_sync(origin, tmp_path, starter).poll()

    assert result.clean and again.started == []
    started = [(r.path, r.experiment.key, r.experiment.spec.target.canary.version) for r in starter.requests]
    assert ("experiments/b.yaml", "demo/checkout", "v9") in started
    assert len([s for s in started if s[1] == "demo/checkout"]) == 2


def test_a_moved_file_keeps_its_experiment_and_a_removed_one_is_forgotten(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/a.yaml", experiment_yaml("checkout"))
    origin.commit("a")
    origin.push()
    starter = RecordingStarter()
    make_sync(origin, tmp_path, starter).poll()
    origin.remove("experiments/a.yaml")
    origin.write("experiments/moved/a.yaml", experiment_yaml("checkout", step_interval="3s"))
    origin.commit("move a")
    origin.push()
    moved = make_sync(origin, tmp_path, starter).poll()

    assert moved.removed == ["experiments/a.yaml"]
    assert [(r.action.kind, r.path) for r in starter.requests] == [
        ("start", "experiments/a.yaml"),
        ("update", "experiments/moved/a.yaml"),
    ]


def test_a_removed_file_says_whether_anything_had_been_started_from_it(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    origin.write("experiments/a.yaml", experiment_yaml("checkout"))
    origin.write("experiments/broken.yaml", "spec: [not an experiment\n")
    origin.commit("a, and a broken file")
    origin.push()
    make_sync(origin, tmp_path, RecordingStarter()).poll()
    origin.remove("experiments/a.yaml")
    origin.remove("experiments/broken.yaml")
    origin.commit("remove both")
    origin.push()
    caplog.set_level("INFO", "meshroll.gitops")
    assert sorted(make_sync(origin, tmp_path, RecordingStarter()).poll().removed) == [
        "experiments/a.yaml",
        "experiments/broken.yaml",
    ]
    said = [r.getMessage() for r in caplog.records if "was removed" in r.getMessage()]
    assert any(m.startswith("experiments/a.yaml") and "what was started from it keeps running" in m for m in said)
    assert any(m.startswith("experiments/broken.yaml") and "nothing had been started from it" in m for m in said)


def test_a_cluster_experiment_is_refused_by_local_runs_once_with_the_next_step(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    istio = (Path(__file__).resolve().parents[3] / "experiments" / "canary-istio.yaml").read_text()
    origin.write("experiments/istio.yaml", istio)
    origin.commit("istio")
    origin.push()
    starter = LocalStarter(tmp_path / "runs")

    refused = make_sync(origin, tmp_path, starter).poll()
    again = make_sync(origin, tmp_path, starter).poll()

    assert refused.invalid == ["experiments/istio.yaml"] and again.invalid == []
    assert "experiments/istio.yaml:1:1 spec.mesh.provider: --local runs provider local only" in caplog.text
    assert not (tmp_path / "runs").exists(), "nothing was started"


def test_a_first_poll_of_many_files_parses_each_once_and_writes_the_state_once(origin: Origin, tmp_path: Path) -> None:
    for i in range(40):
        origin.write(f"experiments/service-{i:02d}.yaml", experiment_yaml(f"service-{i:02d}"))
        if i % 10 == 9:
            origin.commit(f"Ten more experiments ({i + 1})")
    origin.push()
    parsed: list[str] = []

    def counting_parse(text: str, path: str) -> ExperimentFile:
        parsed.append(path)
        return parse_experiment_file(text, path)

    starter, state = RecordingStarter(), CountingStateFile(tmp_path / "state.json")
    first = make_sync(origin, tmp_path, starter, state=state, parse=counting_parse).poll()
    writes_by_the_first_poll = state.writes
    again = make_sync(origin, tmp_path, starter, state=state, parse=counting_parse).poll()

    assert len(first.started) == 40 and first.clean and again.started == []
    assert sorted(parsed) == [f"experiments/service-{i:02d}.yaml" for i in range(40)], "each file parsed once"
    assert writes_by_the_first_poll == 1 and state.writes == 1, "one write a poll; none when nothing is new"
    assert not state.journal_path.exists(), "the write took the journal in"


def test_a_long_running_trigger_on_an_empty_repository_waits_for_the_first_push_and_says_so_once(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    starter = RecordingStarter()
    poller = Poller(make_sync(origin, tmp_path, starter), interval=1)

    waited = [poller.poll_once(), poller.poll_once()]
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    sha = origin.commit("The first commit")
    origin.push()
    first = poller.poll_once()

    assert waited == [None, None] and first is not None
    assert first.started == ["demo/checkout: new experiment"] and first.tip == sha
    waiting = f"repository {origin.url} has no commits on branch main yet; waiting for the first push"
    assert [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()] == [waiting]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "waiting is no error"


def test_a_long_running_trigger_waits_for_a_branch_the_repository_does_not_have_yet(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    origin.branch = "dev"
    origin.commit("Work on dev")
    origin.push()
    poller = Poller(make_sync(origin, tmp_path, RecordingStarter()), interval=1)

    assert poller.poll_once() is None
    origin.branch = "main"
    origin.push()

    assert poller.poll_once() is not None
    assert f"repository {origin.url} has no branch main yet (it has dev); waiting for the first push to it" in (
        caplog.text
    )


def test_a_revert_trailer_records_only_the_files_it_brings_back_to_before_the_reverted_commit(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    origin.write("experiments/cart.yaml", experiment_yaml("cart", "v2"))
    origin.commit("Canaries v2")
    origin.push()
    starter = RecordingStarter()
    make_sync(origin, tmp_path, starter).poll()
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    origin.write("experiments/cart.yaml", experiment_yaml("cart", "v3"))
    reverted = origin.commit("Canaries v3")
    origin.push()
    make_sync(origin, tmp_path, starter).poll()

    origin.write("experiments/cart.yaml", experiment_yaml("cart", "v2"))  # what it was before `reverted`
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v4"))  # a new version, pasted alongside
    origin.write("experiments/fresh.yaml", experiment_yaml("fresh", "v2"))  # never ran
    origin.commit(f"Back to cart v2, on to checkout v4\n\nMeshroll-Revert-Of: {reverted}")
    origin.push()
    sync = make_sync(origin, tmp_path, starter)
    result = sync.poll()

    assert sorted(result.started) == ["demo/checkout: canary version v3 -> v4", "demo/fresh: new experiment"]
    files = sync.state.load(sync.source).files
    assert files["experiments/cart.yaml"].outcome == "reverted"
    assert files["experiments/cart.yaml"].experiments == {"demo/cart": "v2"}
    assert files["experiments/checkout.yaml"].outcome == "started"
    assert files["experiments/fresh.yaml"].outcome == "started"
    assert f"experiments/cart.yaml: changed by {origin.head()[:8]}, which reverts {reverted[:8]}" in caplog.text
    assert (
        f"experiments/checkout.yaml: changed by {origin.head()[:8]}, which carries Meshroll-Revert-Of: "
        f"{reverted[:8]}, but its content is not what it was before {reverted[:8]}; processed as usual"
    ) in caplog.text
    assert f"experiments/fresh.yaml: changed by {origin.head()[:8]}, which carries Meshroll-Revert-Of: " in caplog.text
    assert f"but the file did not exist before {reverted[:8]}; processed as usual" in caplog.text


def test_a_revert_trailer_naming_a_root_or_unknown_commit_is_processed_as_usual(
    origin: Origin, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v2"))
    root = origin.commit("Canary v2")
    origin.push()
    starter = RecordingStarter()
    make_sync(origin, tmp_path, starter).poll()

    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v3"))
    origin.commit(f"Canary v3\n\nMeshroll-Revert-Of: {root}")
    origin.push()
    after_root = make_sync(origin, tmp_path, starter).poll()
    unknown = "f" * 40
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout", "v4"))
    origin.commit(f"Canary v4\n\nMeshroll-Revert-Of: {unknown}")
    origin.push()
    after_unknown = make_sync(origin, tmp_path, starter).poll()

    assert after_root.started == ["demo/checkout: canary version v2 -> v3"]
    assert after_unknown.started == ["demo/checkout: canary version v3 -> v4"]
    assert f"but {root[:8]} is a root commit: there is no earlier version of the file to go back to" in caplog.text
    assert f"but {unknown[:8]} is not in the repository; processed as usual" in caplog.text
