"""Hypothesis strategies for traffic plans that a provider can hold."""

from __future__ import annotations

from hypothesis import strategies as st

from chaos.faults import Abort, Arm, Delay, Fault
from chaos.matching import MatchKind, RequestMatch, StringMatch, cookie_match
from rollout.mesh.plan import TrafficPlan
from tests.unit.mesh.samples import OWNER

HEADER_NAMES = ("x-beta", "X-User", "x-team", "user-agent")  # none of them tested by the sample routes
QUERY_NAMES = ("variant", "lang", "v")

values = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=8)
string_matches = st.builds(StringMatch, st.sampled_from(list(MatchKind)), values)


@st.composite
def request_matches(draw: st.DrawFn) -> RequestMatch:
    header_names = draw(st.lists(st.sampled_from(HEADER_NAMES), unique_by=str.lower, max_size=2))
    headers = [(name, draw(string_matches)) for name in header_names]
    if draw(st.booleans()):
        headers.append(cookie_match(draw(values), draw(values)))
    query_names = draw(st.lists(st.sampled_from(QUERY_NAMES), unique=True, max_size=2))
    query = [(name, draw(string_matches)) for name in query_names]
    if not headers and not query:
        headers.append(("x-beta", draw(string_matches)))
    return RequestMatch(headers=tuple(headers), query=tuple(query))


cohorts = st.lists(request_matches(), min_size=1, max_size=2).map(tuple)
percents = st.one_of(st.integers(1, 100).map(float), st.floats(0.1, 100.0).map(lambda p: round(p, 1)))


@st.composite
def faults(draw: st.DrawFn, index: int, cohort: bool) -> Fault:
    delay = Delay(float(draw(st.integers(1, 5000))), draw(percents)) if draw(st.booleans()) else None
    status = draw(st.one_of(st.integers(200, 599), st.sampled_from(["UNAVAILABLE", "INTERNAL"])))
    abort_percent = draw(percents)
    abort = None
    if delay is None or draw(st.booleans()):
        abort = (
            Abort(abort_percent, http_status=status)
            if isinstance(status, int)
            else Abort(abort_percent, grpc_status=status)
        )
    return Fault(
        id=f"{OWNER}#{index}",
        owner=OWNER,
        arm=draw(st.sampled_from(list(Arm))) if cohort else Arm.BOTH,
        delay=delay,
        abort=abort,
        cohort=draw(cohorts) if cohort else (),
    )


@st.composite
def plans(draw: st.DrawFn, *, with_faults: bool = True, with_ab: bool = True, with_mirror: bool = True) -> TrafficPlan:
    """Plans valid for Istio (and, without faults, for Gateway API): at most one cohort-free fault, on both arms."""
    canary = draw(st.integers(0, 100))
    chosen: list[Fault] = []
    if with_faults:
        count = draw(st.integers(0, 3))
        shared = draw(st.integers(-1, count - 1)) if count else -1
        chosen = [draw(faults(i, cohort=i != shared)) for i in range(count)]
    return TrafficPlan(
        stable_weight=100 - canary,
        canary_weight=canary,
        ab_matches=draw(cohorts) if with_ab and draw(st.booleans()) else (),
        mirror_percent=draw(st.one_of(st.just(0.0), percents)) if with_mirror else 0.0,
        faults=tuple(chosen),
    )
