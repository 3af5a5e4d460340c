"""The names a run's metric queries are filled with (``judging.step_span``), read by the live run, the steady-state
watch, ``meshroll analyze`` and a restarted controller re-collecting its evidence alike."""

from __future__ import annotations

from pathlib import Path

from rollout.judging import step_span
from rollout.spec.loader import load_experiment

EXAMPLES = Path(__file__).resolve().parents[3] / "experiments"


def test_on_gateway_api_each_arm_is_also_named_by_the_service_the_route_sends_it_to() -> None:
    span = step_span(load_experiment(EXAMPLES / "mirror-gateway-api.yaml"), 10.0, 70.0)
    assert (span.service, span.namespace, span.start, span.end) == ("payments", "payments", 10.0, 70.0)
    assert (span.backend("v1"), span.backend("v2")) == ("payments-v1", "payments-v2")


def test_on_istio_both_arms_are_the_hosts_subsets_so_the_service_names_both() -> None:
    span = step_span(load_experiment(EXAMPLES / "canary-istio.yaml"), 0.0, 60.0, reporter="source")
    assert span.backend(span.stable_version) == span.backend(span.canary_version) == span.service
    assert span.reporter == "source"
