"""``spec.after``: the pure decision (``dependencies.py``) and its reader (``dependency_gate.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from rollout.kube.client import NotFound
from rollout.kube.dependencies import Cycle, Failed, Start, Wait, after_of, decide, progress, to_read
from rollout.kube.dependency_gate import DependencyGate
from rollout.kube.objects import Key

Obj = dict[str, Any]


def exp(name: str, *after: str, ns: str = "shop", generation: int = 1, status: Obj | None = None) -> Obj:
    refs = [{"name": a.split("/")[-1], **({"namespace": a.split("/")[0]} if "/" in a else {})} for a in after]
    obj: Obj = {"metadata": {"name": name, "namespace": ns, "generation": generation}, "spec": {"after": refs}}
    if status is not None:
        obj["status"] = status
    return obj


def ran(
    phase: str, *, run: int = 1, generation: int = 1, weight: int = 0, applied: bool = True, reason: str = ""
) -> Obj:
    return {
        "run": run,
        "runGeneration": generation,
        "phase": phase,
        "trafficApplied": applied,
        "traffic": {"canaryWeight": weight, "stableWeight": 100 - weight},
        "reason": reason,
    }


def key(name: str, ns: str = "shop") -> Key:
    return Key(ns, name)


def decide_all(me: Key, *objects: Obj, scopes: tuple[str, ...] = ()) -> Start | Wait | Failed | Cycle:
    """Read as the gate does, from ``objects`` (the others are missing), then decide."""
    known = {Key.of(o): o for o in objects}
    seen: dict[Key, Obj | None] = {me: known[me]}
    while wanted := to_read(me, seen):
        for k in wanted:
            seen[k] = known.get(k)
    return decide(me, seen, scopes)


def test_no_after_starts() -> None:
    assert decide_all(key("b"), exp("b")) == Start()


def test_a_succeeded_dependency_lets_it_start_promoted_or_completed() -> None:
    a = exp("a", status=ran("Succeeded", weight=100))
    c = exp("c", status=ran("Succeeded", weight=0))  # a mirror or chaos-only run completes without promoting
    assert decide_all(key("b"), exp("b", "a", "c"), a, c) == Start()


def test_a_dependency_under_way_or_not_applied_yet_waits_with_its_state() -> None:
    a = exp("a", status=ran("Progressing", run=3, weight=25))
    decision = decide_all(key("b"), exp("b", "a"), a)
    assert isinstance(decision, Wait)
    assert decision.states == ("shop/a: run 3 Progressing at 25%",)
    assert "waiting for shop/a: run 3 Progressing at 25%" in decision.message
    promoting = exp("a", status=ran("Succeeded", weight=100, applied=False))
    assert isinstance(decide_all(key("b"), exp("b", "a"), promoting), Wait)


def test_a_dependency_whose_current_generation_has_no_run_waits() -> None:
    queued = {"conditions": [{"type": "Ready", "status": "False", "reason": "Queued"}]}
    a = exp("a", status=queued)
    decision = decide_all(key("b"), exp("b", "a"), a)
    assert isinstance(decision, Wait) and decision.states == ("shop/a: no run yet (Queued)",)
    newer = exp("a", generation=2, status=ran("Succeeded", weight=100))  # its run is of generation 1
    decision = decide_all(key("b"), exp("b", "a"), newer)
    assert isinstance(decision, Wait) and "generation 2 has not started a run yet" in decision.message


def test_a_missing_dependency_waits_and_says_so() -> None:
    decision = decide_all(key("b"), exp("b", "a"))
    assert isinstance(decision, Wait) and decision.states == ("shop/a: does not exist (yet)",)


def test_a_dependency_being_deleted_waits() -> None:
    a = exp("a", status=ran("Succeeded", weight=100))
    a["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    decision = decide_all(key("b"), exp("b", "a"), a)
    assert isinstance(decision, Wait) and "is being deleted" in decision.message


@pytest.mark.parametrize("phase", ["RolledBack", "Aborted", "Inconclusive"])
def test_a_failed_dependency_refuses_with_its_reason(phase: str) -> None:
    a = exp("a", status=ran(phase, run=2, reason="error-rate regressed"))
    other = exp("c", status=ran("Progressing", weight=10))
    decision = decide_all(key("b"), exp("b", "a", "c"), a, other)
    assert isinstance(decision, Failed)  # a failure outranks a wait
    assert decision.states == (f"shop/a: run 2 {phase}: error-rate regressed",)


def test_a_failed_dependency_then_rerun_and_succeeded_lets_it_start() -> None:
    b = exp("b", "a")
    failed = exp("a", status=ran("RolledBack", run=1))
    assert isinstance(decide_all(key("b"), b, failed), Failed)
    rerun = exp("a", generation=2, status={**ran("RolledBack", run=1), "conditions": []})
    assert isinstance(decide_all(key("b"), b, rerun), Wait)  # a new generation, not started yet
    running = exp("a", generation=2, status=ran("Progressing", run=2, generation=2, weight=20))
    assert isinstance(decide_all(key("b"), b, running), Wait)
    done = exp("a", generation=2, status=ran("Succeeded", run=2, generation=2, weight=100))
    assert decide_all(key("b"), b, done) == Start()


def test_a_cycle_of_two_is_named_from_each_side() -> None:
    a, b = exp("a", "b"), exp("b", "a")
    for me, other in ((key("a"), key("b")), (key("b"), key("a"))):
        decision = decide_all(me, a, b)
        assert decision == Cycle((me, other), mine=True)
        assert f"dependency cycle: {me} -> {other} -> {me}" in decision.message


def test_a_cycle_of_three_across_namespaces() -> None:
    a = exp("a", "pay/b")
    b = exp("b", "ops/c", ns="pay")
    c = exp("c", "shop/a", ns="ops")
    decision = decide_all(key("a"), a, b, c)
    assert decision == Cycle((key("a"), key("b", "pay"), key("c", "ops")), mine=True)
    assert "shop/a -> pay/b -> ops/c -> shop/a" in decision.message


def test_one_that_runs_after_a_cycle_is_told_so() -> None:
    decision = decide_all(key("d"), exp("d", "a"), exp("a", "b"), exp("b", "a"))
    assert isinstance(decision, Cycle) and not decision.mine
    assert "shop/a -> shop/b -> shop/a" in decision.message and "waits for it" in decision.message


def test_a_cycle_through_one_that_already_runs_is_no_cycle() -> None:
    """After only gates a start: one whose current generation has a run waits for nothing, whatever it names."""
    a = exp("a", "b", status=ran("Succeeded", weight=100))
    assert decide_all(key("b"), exp("b", "a"), a) == Start()
    running = exp("a", "b", status=ran("Progressing", weight=50))
    decision = decide_all(key("b"), exp("b", "a"), running)
    assert isinstance(decision, Wait) and decision.states == ("shop/a: run 1 Progressing at 50%",)


def test_a_long_chain_is_no_cycle_and_waits_for_the_first_link_only() -> None:
    objects = [exp("e0", "e1"), exp("e1", "e2"), exp("e2", "e3"), exp("e3")]
    decision = decide_all(key("e0"), *objects)
    assert isinstance(decision, Wait) and decision.states == ("shop/e1: no run yet",)


def test_after_defaults_to_the_own_namespace_and_skips_what_it_cannot_read() -> None:
    obj = exp("b", "a", "pay/c")
    obj["spec"]["after"] += [{"namespace": "x"}, "junk", {"name": "a"}]
    assert after_of(obj) == (key("a"), key("c", "pay"))
    assert after_of({"metadata": {"name": "b"}, "spec": {}}) == ()


def test_a_dependency_outside_the_watched_namespaces_waits_and_says_why() -> None:
    decision = decide_all(key("b"), exp("b", "pay/a"), scopes=("shop",))
    assert isinstance(decision, Wait) and "does not watch (--namespace)" in decision.message


def test_progress_changes_with_what_waiters_read_only() -> None:
    a = exp("a", status=ran("Progressing", weight=10))
    later = exp("a", status=ran("Progressing", weight=20))
    same = exp("a", status={**ran("Progressing", weight=10), "history": [1, 2, 3]})
    assert progress(a) != progress(later) and progress(a) == progress(same)
    assert progress(None) == () != progress(exp("a"))


class FakeExperiments:
    def __init__(self, *objects: Obj) -> None:
        self.objects = {Key.of(o): o for o in objects}
        self.reads: list[Key] = []

    def get(self, k: Key) -> Obj:
        self.reads.append(k)
        if k not in self.objects:
            raise NotFound(f"{k} not found")
        return self.objects[k]


def test_the_gate_reads_only_when_after_is_set_and_wakes_each_waiter_once() -> None:
    experiments = FakeExperiments(exp("a", status=ran("Progressing", weight=10)))
    gate = DependencyGate(experiments)  # type: ignore[arg-type]
    assert gate.check(key("x"), exp("x")) == Start() and experiments.reads == []
    assert isinstance(gate.check(key("b"), exp("b", "a", "m")), Wait)
    assert sorted(map(str, experiments.reads)) == ["shop/a", "shop/m"]
    assert gate.waiters(key("a")) == {key("b")}
    assert gate.waiters(key("a")) == set()  # popped: b registers again at its next check
    assert gate.waiters(key("m")) == {key("b")}


def test_the_gate_forgets_a_waiter_that_starts_and_never_reads_outside_its_scopes() -> None:
    experiments = FakeExperiments(exp("a", status=ran("Succeeded", weight=100)))
    gate = DependencyGate(experiments, scopes=("shop",))  # type: ignore[arg-type]
    assert gate.check(key("b"), exp("b", "a")) == Start()
    assert gate.waiters(key("a")) == set()
    assert isinstance(gate.check(key("c"), exp("c", "pay/z")), Wait)
    assert Key("pay", "z") not in experiments.reads
