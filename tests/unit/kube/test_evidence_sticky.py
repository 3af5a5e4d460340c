"""After a restart, a sticky canary's past windows are re-collected at the share the canary really got."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from analysis.observations import ArmSample, MetricPair
from analysis.sources import MetricQuery, StepSpan
from rollout.kube.evidence import Evidence, recollect
from rollout.mesh.plan import StickySession
from tests.unit.kube.test_evidence import HISTORY, NAMES, PLAN, QUERIES


class ReturningUsers:
    """Every window: the canary served 40% of requests (weights of 10% and 30%, plus sticky users)."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        return {"errors": MetricPair(ArmSample(600, 1), ArmSample(400, 1))}


def evidence(sticky: bool) -> Evidence:
    plan = replace(PLAN, affinity=StickySession(cookie_name="canary", value="run-1", max_age=3600)) if sticky else PLAN
    return recollect(HISTORY, ReturningUsers(), QUERIES, plan=plan, names=NAMES)


def test_a_sticky_canarys_windows_carry_the_observed_share_not_the_weight() -> None:
    weighted, sticky = evidence(False), evidence(True)
    assert [w.canary_weight for w in weighted.windows] == [10.0, 10.0, 30.0]
    assert [w.canary_weight for w in sticky.windows] == [40.0, 40.0, 40.0]
    assert [(w.start, w.end) for w in sticky.windows] == [(w.start, w.end) for w in weighted.windows]
