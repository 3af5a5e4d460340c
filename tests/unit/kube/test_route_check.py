"""Starting a run checks that no other run under way steers its route. With many Experiments in the
namespace, that check must not parse and validate every other one (it did: each start cost O(N),
N starts O(N^2)); only the runs whose stored spec names the same routing object are read in full.
Observed through a counting ``experiment_from``, not a clock."""

from __future__ import annotations

from typing import Any, cast

import pytest

import rollout.kube.route_gate as route_gate
from rollout.kube.document import RunInfo, compose
from rollout.kube.objects import Key, experiment_from
from rollout.kube.route_gate import check_route_free
from rollout.mesh.errors import MeshError
from rollout.mesh.factory import routing_target
from rollout.status import Phase, Status, Traffic

NAMESPACE = "shop"


def spec(service: str) -> dict[str, Any]:
    return {
        "target": {"service": service, "stable": {"version": "v1"}, "canary": {"version": "v2"}},
        "mesh": {"provider": "istio", "virtualService": service, "route": "primary"},
        "strategy": {"canary": {"steps": [20, 50], "stepInterval": "3s"}},
        "analysis": {"metrics": [{"name": "error-rate", "template": "istio-error-rate", "margin": 0.5}]},
    }


def running(name: str, service: str) -> dict[str, Any]:
    """An Experiment whose run 1 is under way (Progressing, 20% applied) on VirtualService ``service``."""
    status = Status(phase=Phase.PROGRESSING, traffic=Traffic(canary_weight=20), traffic_applied=True)
    return {
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": spec(service),
        "status": compose(status, RunInfo(run=1, generation=1, spec=spec(service), observed_generation=1), [], "t"),
    }


class Listed:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.lists = 0

    def list(self, namespace: str | None) -> dict[str, Any]:
        self.lists += 1
        return {"items": self.items}


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []

    def counting(obj: Any, spec: Any = None) -> Any:
        names.append(str((obj.get("metadata") or {}).get("name")))
        return experiment_from(obj, spec)

    monkeypatch.setattr(route_gate, "experiment_from", counting)
    return names


def test_a_start_among_many_runs_on_other_routes_parses_none_of_them(parsed: list[str]) -> None:
    others = [running(f"canary-{i}", f"svc-{i}") for i in range(200)]
    new = running("new", "svc-new")
    experiments = Listed([*others, new])
    target = routing_target(experiment_from(new))

    check_route_free(cast(Any, experiments), Key(NAMESPACE, "new"), target)

    assert experiments.lists == 1
    assert parsed == []  # before the fix: all 200 others


def test_a_run_under_way_on_the_same_route_still_stops_the_start(parsed: list[str]) -> None:
    others = [running(f"canary-{i}", f"svc-{i}") for i in range(50)]
    busy = running("busy", "svc-7")  # the same VirtualService as canary-7 and the new one
    new = running("new", "svc-7")
    experiments = Listed([*others, busy, new])
    target = routing_target(experiment_from(new))

    with pytest.raises(MeshError, match="in use by Experiment shop/canary-7"):
        check_route_free(cast(Any, experiments), Key(NAMESPACE, "new"), target)

    assert parsed == ["canary-7"]  # only a run on that VirtualService was read in full


def test_a_stored_spec_meshroll_cannot_read_cheaply_is_read_in_full(parsed: list[str]) -> None:
    odd = running("odd", "svc-7")
    del odd["status"]["runSpec"]  # an older status: the run's spec is the object's own
    new = running("new", "svc-7")
    experiments = Listed([odd, new])
    target = routing_target(experiment_from(new))

    with pytest.raises(MeshError, match="in use by Experiment shop/odd"):
        check_route_free(cast(Any, experiments), Key(NAMESPACE, "new"), target)
    assert parsed == ["odd"]
