"""What a new generation means for the runs (pure)."""

from __future__ import annotations

from rollout.kube.document import RunInfo
from rollout.kube.revisions import Adopt, Drive, Idle, Reject, StartRun, Supersede, next_step
from rollout.status import Phase, Status, Traffic

V2 = {"target": {"canary": {"version": "v2"}}}
V3 = {"target": {"canary": {"version": "v3"}}}
RUNNING = Status(phase=Phase.PROGRESSING, step=1, traffic=Traffic(canary_weight=10))
DONE = Status(phase=Phase.SUCCEEDED, traffic=Traffic(canary_weight=100))
ABORTING = Status(phase=Phase.ABORTED, traffic_applied=False)
RUN1 = RunInfo(run=1, generation=1, spec=V2, observed_generation=1)


def test_the_first_valid_spec_starts_run_one_and_an_invalid_one_starts_nothing() -> None:
    assert next_step(1, V2, None, RunInfo(), None) == StartRun(1)
    assert next_step(1, V2, "spec.x: bad", RunInfo(), None) == Reject("spec.x: bad", None)


def test_the_same_generation_drives_a_run_under_way_and_leaves_a_finished_one() -> None:
    assert next_step(1, V2, None, RUN1, RUNNING) == Drive()
    assert next_step(1, V2, None, RUN1, DONE) == Idle()
    assert next_step(1, V2, None, RUN1, ABORTING) == Drive()  # terminal, but the mesh does not hold it yet


def test_a_new_generation_mid_run_supersedes_it() -> None:
    step = next_step(2, V3, None, RUN1, RUNNING)
    assert step == Supersede(2)
    assert isinstance(step, Supersede) and step.reason == "superseded by generation 2"


def test_a_new_generation_after_a_finished_run_starts_the_next_run() -> None:
    assert next_step(2, V3, None, RUN1, DONE) == StartRun(2)


def test_a_run_still_applying_its_end_is_superseded_not_restarted() -> None:
    assert next_step(2, V3, None, RUN1, ABORTING) == Supersede(2)


def test_an_invalid_new_generation_changes_nothing() -> None:
    assert next_step(2, V3, "spec.y: bad", RUN1, RUNNING) == Reject("spec.y: bad", Drive())
    assert next_step(2, V3, "spec.y: bad", RUN1, DONE) == Reject("spec.y: bad", Idle())


def test_a_new_generation_with_the_run_s_own_spec_is_adopted() -> None:
    assert next_step(3, dict(V2), None, RUN1, RUNNING) == Adopt(3, Drive())
    assert next_step(3, dict(V2), None, RUN1, DONE) == Adopt(3, Idle())


def test_an_edit_of_after_alone_is_adopted_it_gates_a_start_and_changes_no_run() -> None:
    ordered = {**V2, "after": [{"name": "checkout-v2"}]}
    adopted = Adopt(2, Drive(), spec=ordered)
    assert next_step(2, ordered, None, RUN1, RUNNING) == adopted  # was Supersede: back to stable
    assert next_step(2, ordered, None, RUN1, DONE) == Adopt(2, Idle(), spec=ordered)  # was StartRun: the release again
    ran_ordered = RunInfo(run=1, generation=1, spec=ordered, observed_generation=1)
    assert next_step(2, dict(V2), None, ran_ordered, RUNNING) == Adopt(2, Drive(), spec=V2)
    assert next_step(2, {**V3, "after": [{"name": "checkout-v2"}]}, None, RUN1, DONE) == StartRun(2)


def test_a_notify_edit_is_adopted_and_a_run_under_way_takes_it_at_once() -> None:
    moved = {**V2, "notify": {"slack": {"channel": "#releases"}}}
    assert next_step(2, moved, None, RUN1, RUNNING) == Adopt(2, Drive(), spec=moved, renotify=True)
    assert next_step(2, moved, None, RUN1, DONE) == Adopt(2, Idle(), spec=moved, renotify=True)  # no release again
    linked = {**V2, "trigger": {"gitops": {"repo": "https://git.example/shop"}}, "notify": {}}
    assert next_step(2, linked, None, RUN1, RUNNING) == Adopt(2, Drive(), spec=linked)  # notify: {} is no notify


def test_a_notify_edit_beside_a_release_edit_supersedes_the_run() -> None:
    both = {**V3, "notify": {"slack": {"channel": "#releases"}}}
    assert next_step(2, both, None, RUN1, RUNNING) == Supersede(2)


def test_an_invalid_edit_of_what_a_run_does_not_depend_on_is_reported_and_not_adopted() -> None:
    bad_link = {**V2, "notify": {"links": [{"name": "grafana", "url": "ftp://x"}]}}
    assert next_step(2, bad_link, "spec.notify.links[0].url: bad", RUN1, RUNNING) == Reject(
        "spec.notify.links[0].url: bad", Drive()
    )
