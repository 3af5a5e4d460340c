"""RouteGate (rollout/kube/route_gate.py): one start at a time per routing object, and no lock kept for a
route nobody is starting on (a controller that sees thousands of routes over weeks does not grow)."""

from __future__ import annotations

import threading
import time

import pytest

from rollout.kube.objects import Key
from rollout.kube.route_gate import RouteGate
from rollout.mesh.errors import MeshError
from rollout.mesh.factory import RoutingTarget


def route(index: int) -> RoutingTarget:
    return RoutingTarget("VirtualService", "shop", f"checkout-{index}")


def test_the_lock_of_a_route_is_dropped_once_no_start_holds_or_waits_for_it() -> None:
    gate = RouteGate()
    for index in range(100):
        with gate.entering(Key("shop", f"e{index}"), route(index)):
            pass
    with pytest.raises(MeshError), gate.entering(Key("shop", "refused"), route(0)):
        raise MeshError("in use")

    assert gate._locks == {} and gate._users == {}
    assert gate._waiting == {("shop", "VirtualService", "checkout-0"): {Key("shop", "refused")}}  # still woken later


def test_starts_on_one_route_stay_one_at_a_time_while_its_lock_comes_and_goes() -> None:
    gate = RouteGate()
    inside = 0
    most = 0
    count_lock = threading.Lock()

    def start(index: int) -> None:
        nonlocal inside, most
        for _ in range(20):
            with gate.entering(Key("shop", f"e{index}"), route(0)):
                with count_lock:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with count_lock:
                    inside -= 1

    threads = [threading.Thread(target=start, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most == 1 and gate._locks == {}
