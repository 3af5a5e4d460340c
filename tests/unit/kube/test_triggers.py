"""Which changes of an Experiment's object cut a retry backoff short: not its status, nor meshroll's
own finalizer, but its spec's generation, a deletion, another object, and its metadata (pure)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from rollout.kube.finalizer import FINALIZER
from rollout.kube.reconcile import COMMAND_ANNOTATION
from rollout.kube.triggers import trigger

Obj = dict[str, Any]
OBJECT: Obj = {
    "metadata": {
        "name": "c",
        "namespace": "shop",
        "uid": "u-1",
        "generation": 3,
        "resourceVersion": "100",
        "finalizers": ["example.com/keep", FINALIZER],
        "labels": {"team": "checkout"},
        "annotations": {"meshroll.io/source-commit": "abc"},
        "managedFields": [{"manager": "kubectl"}],
    },
    "spec": {"target": {"service": "checkout"}},
    "status": {"phase": "Progressing", "conditions": [{"type": "Ready", "status": "True"}]},
}


def changed(edit: Callable[[Obj], object]) -> Obj:
    result = copy.deepcopy(OBJECT)
    edit(result)
    return result


def set_status(o: Obj) -> None:
    o["status"]["conditions"] = [{"type": "Ready", "status": "False", "message": "retrying in 8s"}]
    o["metadata"]["resourceVersion"] = "101"
    o["metadata"]["managedFields"].append({"manager": "meshroll", "subresource": "status"})


def drop_our_finalizer(o: Obj) -> None:
    o["metadata"]["finalizers"].remove(FINALIZER)


@pytest.mark.parametrize(
    "edit",
    [
        set_status,  # the controller's own report, a run's writes, another replica's
        drop_our_finalizer,  # the controller adds and removes it itself
        lambda o: o["metadata"]["labels"].update({}),  # nothing (a re-list)
        lambda o: o["metadata"].update(annotations={"meshroll.io/source-commit": "abc"}),
    ],
)
def test_what_leaves_a_backoff_alone(edit: Callable[[Obj], object]) -> None:
    assert trigger(changed(edit)) == trigger(OBJECT)


@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["metadata"].update(generation=4),  # a new spec
        lambda o: o["metadata"].update(deletionTimestamp="2025-01-01T00:00:00Z"),
        lambda o: o["metadata"].update(uid="u-2"),  # deleted and created again under the same name
        lambda o: o["metadata"]["annotations"].update({COMMAND_ANNOTATION: "abort"}),
        lambda o: o["metadata"]["annotations"].update({"meshroll.io/chaos-stopped": "now"}),
        lambda o: o["metadata"]["labels"].update(team="payments"),
        lambda o: o["metadata"]["finalizers"].remove("example.com/keep"),
    ],
)
def test_what_cuts_a_backoff_short(edit: Callable[[Obj], object]) -> None:
    assert trigger(changed(edit)) != trigger(OBJECT)


def test_meshrolls_finalizer_counts_while_the_object_is_being_deleted() -> None:
    deleting = changed(lambda o: o["metadata"].update(deletionTimestamp="2025-01-01T00:00:00Z"))
    removed_by_hand = copy.deepcopy(deleting)
    drop_our_finalizer(removed_by_hand)
    assert trigger(removed_by_hand) != trigger(deleting)


def test_an_object_without_metadata_has_a_trigger_too() -> None:
    assert trigger({}) == trigger({"metadata": {"finalizers": [FINALIZER]}})
