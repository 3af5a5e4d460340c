"""The status store on a real API server: optimistic concurrency, no lost decision, no stale writer;
and the fence that keeps a replica without the Lease from writing anything, to the mesh included."""

from __future__ import annotations

import pytest

from rollout.events import Applied, Judged, Start
from rollout.kube.client import FencedApiClient, NotLeader
from rollout.kube.document import RunInfo
from rollout.kube.objects import Experiments, Key, experiment_from
from rollout.kube.store import KubeStatusStore, StatusConflict
from rollout.machine import advance
from rollout.mesh.factory import provider_for
from rollout.mesh.plan import TrafficPlan
from rollout.plan import run_plan
from rollout.status import Status
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.helpers import Api, experiment, route_weights

pytestmark = pytest.mark.controlplane


def machine_run(body: dict[str, object], *events: object) -> list[Status]:
    """The statuses the state machine goes through for ``events`` (one second apart)."""
    plan = run_plan(experiment_from(body))
    status, seen = Status(), []
    for second, event in enumerate(events):
        status = advance(plan, status, event, 1000.0 + second).status  # type: ignore[arg-type]
        seen.append(status)
    return seen


def store_for(controlplane: ControlPlane, namespace: str, name: str, **options: object) -> KubeStatusStore:
    info = RunInfo(run=1, generation=1, observed_generation=1)
    return KubeStatusStore(Experiments(controlplane.api_client()), Key(namespace, name), info, identity="t", **options)  # type: ignore[arg-type]


def test_a_save_after_a_spec_edit_meets_409_re_reads_and_keeps_the_decision(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    body = experiment(namespace, "c")
    kube.create_experiment(body)
    started, applied, judged = machine_run(
        body, Start(), Applied(), Judged(outcome="hold", engine="sequential", reason="not yet")
    )
    store = store_for(controlplane, namespace, "c")
    assert store.load() is None
    store.save(started)
    store.save(applied)
    kube.patch_experiment(
        namespace, "c", {"spec": {"strategy": {"canary": {"steps": [20, 60]}}}}
    )  # bumps resourceVersion

    store.save(judged)

    assert store.conflicts == 1
    stored = store_for(controlplane, namespace, "c").load()
    assert stored == judged  # the decision is there, whole
    assert kube.experiment(namespace, "c")["spec"]["strategy"]["canary"]["steps"] == [20, 60]  # and the edit too


def test_a_decision_recorded_by_someone_else_is_never_overwritten(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    body = experiment(namespace, "c")
    kube.create_experiment(body)
    started, applied, ours = machine_run(body, Start(), Applied(), Judged(outcome="hold", engine="s", reason="ours"))
    *_, theirs = machine_run(body, Start(), Applied(), Judged(outcome="rollback", engine="s", reason="theirs"))
    mine, other = store_for(controlplane, namespace, "c"), store_for(controlplane, namespace, "c")
    mine.save(started)
    mine.save(applied)
    other.load()
    other.save(theirs)  # another writer records a decision

    with pytest.raises(StatusConflict, match="reloading the run"):
        mine.save(ours)

    assert store_for(controlplane, namespace, "c").load() == theirs


def test_a_replica_that_may_not_write_sends_nothing(controlplane: ControlPlane, kube: Api, namespace: str) -> None:
    body = experiment(namespace, "c")
    kube.create_experiment(body)
    (started,) = machine_run(body, Start())
    with pytest.raises(NotLeader):
        store_for(controlplane, namespace, "c", may_write=lambda: False).save(started)
    assert "status" not in kube.experiment(namespace, "c")


def test_a_replica_that_lost_the_lease_mid_apply_does_not_finish_its_mesh_write(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    """A leader frozen after its provider read the VirtualService wakes up without the Lease: the write it
    was about to send is refused at the last moment."""
    kube.create_istio(namespace)
    leader = {"held": True}

    class FreezesAfterReading(FencedApiClient):
        def call_api(self, method: str, url: str, *args: object, **kwargs: object) -> object:
            answer = super().call_api(method, url, *args, **kwargs)
            if method == "GET" and "/virtualservices/" in url:
                leader["held"] = False  # ...frozen here while another replica took the Lease
            return answer

    fenced = FreezesAfterReading(controlplane.api_client().configuration, lambda: leader["held"])
    provider = provider_for(experiment_from(experiment(namespace, "c")), fenced)
    with pytest.raises(NotLeader, match="does not hold the Lease"):
        provider.apply(TrafficPlan(80, 20))
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    leader["held"] = True
    fenced_ok = FencedApiClient(controlplane.api_client().configuration, lambda: leader["held"])
    provider_for(experiment_from(experiment(namespace, "c")), fenced_ok).apply(TrafficPlan(80, 20))
    assert route_weights(kube.virtual_service(namespace)) == (80, 20)


def test_reads_are_never_fenced(controlplane: ControlPlane, kube: Api, namespace: str) -> None:
    kube.create_experiment(experiment(namespace, "c"))
    fenced = FencedApiClient(controlplane.api_client().configuration, lambda: False)
    assert Experiments(fenced).get(Key(namespace, "c"))["metadata"]["name"] == "c"


def test_a_week_of_judgements_is_stored_and_a_new_writer_carries_on_from_it(
    controlplane: ControlPlane, kube: Api, namespace: str
) -> None:
    from tests.unit.kube.test_document import long_run

    kube.create_experiment(experiment(namespace, "week"))
    week = long_run(judgements=7 * 1440, metrics=20, steps=6)  # a week at a 1-minute interval, 20 metrics
    store = store_for(controlplane, namespace, "week")
    store.load()
    store.save(week)  # the API server takes it (it refuses objects over 1.5 MiB)

    assert kube.experiment(namespace, "week")["status"]["earlierHistory"]
    restarted = store_for(controlplane, namespace, "week")
    back = restarted.load()
    assert back is not None and [(e.time, e.step, e.event.type) for e in back.history] == [
        (e.time, e.step, e.event.type) for e in week.history
    ]
    restarted.save(week)  # the restarted writer recognises the stored history as its own: no StatusConflict
    assert restarted.conflicts == 0
