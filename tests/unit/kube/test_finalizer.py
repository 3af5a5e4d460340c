"""When the Experiment carries meshroll's finalizer, and what its deletion means for the mesh (pure)."""

from __future__ import annotations

from typing import Any

from rollout.kube.finalizer import (
    FINALIZER,
    Release,
    Revert,
    deleting,
    finalizers,
    force_delete,
    held,
    on_deletion,
    wanted,
    with_ours,
    without_ours,
)
from rollout.kube.revisions import Adopt, Drive, Idle, Reject, StartRun, Supersede
from rollout.status import Phase, Status, Traffic

RUNNING = Status(phase=Phase.PROGRESSING, step=0, traffic=Traffic(canary_weight=20, faults=("abort-0",)))
PAUSED = Status(phase=Phase.PAUSED, step=1, traffic=Traffic(canary_weight=50))
PROMOTING = Status(phase=Phase.PROMOTING, traffic=Traffic(canary_weight=100), traffic_applied=False)
PROMOTED = Status(phase=Phase.SUCCEEDED, traffic=Traffic(canary_weight=100))
ROLLING_BACK = Status(phase=Phase.ROLLED_BACK, traffic_applied=False)  # terminal, not yet applied
ROLLED_BACK = Status(phase=Phase.ROLLED_BACK)


def obj(names: list[str] | None = None, deleted: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "c", "namespace": "shop"}
    if names is not None:
        metadata["finalizers"] = names
    if deleted:
        metadata["deletionTimestamp"] = deleted
    return {"metadata": metadata}


def test_the_finalizer_is_wanted_while_a_run_may_touch_the_mesh() -> None:
    assert wanted(StartRun(1))
    assert wanted(Drive())
    assert wanted(Supersede(2))
    assert wanted(Adopt(2, Drive()))
    assert wanted(Reject("spec.x: bad", Drive()))  # the run goes on with its own spec


def test_the_finalizer_is_not_wanted_once_the_run_is_over_or_without_a_run() -> None:
    assert not wanted(Idle())
    assert not wanted(Adopt(2, Idle()))
    assert not wanted(Reject("spec.x: bad", Idle()))
    assert not wanted(Reject("spec.x: bad", None))


def test_only_meshroll_s_own_finalizer_is_added_or_removed() -> None:
    assert with_ours([]) == [FINALIZER]
    assert with_ours(["example.com/keep"]) == ["example.com/keep", FINALIZER]
    assert with_ours(["a", FINALIZER, "b"]) == ["a", FINALIZER, "b"]  # already there: unchanged
    assert without_ours(["a", FINALIZER, "b"]) == ["a", "b"]
    assert without_ours(["a"]) == ["a"]


def test_reading_finalizers_and_deletion_from_an_object() -> None:
    assert finalizers(obj()) == [] and not held(obj())
    assert held(obj(["x", FINALIZER]))
    assert not held(obj(["x"]))
    assert not deleting(obj([FINALIZER]))
    assert deleting(obj([FINALIZER], deleted="2026-01-01T00:00:00Z"))
    assert finalizers({}) == [] and not deleting({})


def test_deleting_a_run_under_way_reverts_it() -> None:
    for status in (RUNNING, PAUSED, ROLLING_BACK, PROMOTING):
        decision = on_deletion(3, status)
        assert decision == Revert(3, status), status.phase


def test_deleting_a_finished_run_leaves_the_mesh_as_the_run_ended_it() -> None:
    promoted = on_deletion(
        1, PROMOTED
    )  # the route sends everything to the promoted version: "all stable" would undo it
    assert isinstance(promoted, Release) and "Succeeded" in promoted.reason and "nothing is reverted" in promoted.reason
    assert isinstance(on_deletion(1, ROLLED_BACK), Release)


def test_without_a_run_nothing_is_reverted() -> None:
    assert on_deletion(0, None) == Release("no run has touched the mesh")
    assert isinstance(on_deletion(2, None), Release)  # the run's status cannot be read: it never applied anything


def test_a_revert_says_what_the_mesh_held() -> None:
    assert Revert(3, RUNNING).what == "run 3 (Progressing, canary 20%, faults abort-0)"
    mirrored = Status(phase=Phase.PROGRESSING, traffic=Traffic(canary_weight=0, mirror_percent=20, ab_active=True))
    assert Revert(1, mirrored).what == "run 1 (Progressing, canary 0%, cohort, mirror 20%)"


def test_the_force_delete_command_names_the_experiment() -> None:
    command = force_delete("shop", "checkout-v2")
    assert command == (
        'kubectl patch experiment checkout-v2 -n shop --type merge -p \'{"metadata":{"finalizers":null}}\''
    )
