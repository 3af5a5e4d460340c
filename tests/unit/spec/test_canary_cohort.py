"""strategy.canary.cohort: what it accepts, what it refuses and where it says so."""

from __future__ import annotations

import pytest

from chaos.matching import MatchKind, StringMatch
from rollout.plan import run_plan
from rollout.spec import SpecError
from rollout.spec.loader import load_experiments_text
from rollout.spec.models import Experiment
from rollout.status import Status

MESHES = {
    "istio": "{provider: istio, virtualService: checkout}",
    "gateway-api": "{provider: gateway-api, httpRoute: checkout}",
    "smi": "{provider: smi, trafficSplit: checkout}",
    "local": "{provider: local}",
}
COHORT = "canary: {steps: [5, 10, 25], stepInterval: 1m, cohort: {match: [{headers: {x-beta: '1'}}]}}"


def text(strategy: str, provider: str = "istio") -> str:
    return f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: checkout-v2, namespace: shop}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {MESHES[provider]}
  strategy:
    {strategy}
  analysis:
    metrics: [{{name: error-rate, template: istio-error-rate}}]
"""


def load(strategy: str = COHORT, provider: str = "istio") -> Experiment:
    return load_experiments_text(text(strategy, provider), "x.yaml")[0]


def problems(strategy: str = COHORT, provider: str = "istio") -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(strategy, provider)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("provider", ["istio", "gateway-api", "local"])
def test_istio_gateway_api_and_the_embedded_mesh_take_a_canary_cohort_beside_the_weights(provider: str) -> None:
    plan = run_plan(load(provider=provider))
    assert plan.weights == (5, 10, 25)
    ((header,),) = [m.headers for m in plan.ab_matches]
    assert header == ("x-beta", StringMatch(MatchKind.EXACT, "1"))
    assert plan.observed_split, "the cohort makes the canary's share larger than its weight"


def test_a_cohort_matches_headers_cookies_and_query_parameters_like_an_ab_test() -> None:
    entries = "{cookies: {beta: 'yes'}}, {queryParams: {beta: {prefix: t}}}"
    strategy = COHORT.replace("{headers: {x-beta: '1'}}", entries)
    cookie, query = run_plan(load(strategy)).ab_matches
    assert cookie.headers[0][0] == "cookie" and query.query == (("beta", StringMatch(MatchKind.PREFIX, "t")),)


def test_smi_is_refused_with_one_line_naming_the_field() -> None:
    (problem,) = problems(provider="smi")
    assert "\n" not in problem
    assert "spec.strategy.canary.cohort" in problem and "SMI TrafficSplit cannot match headers" in problem


@pytest.mark.parametrize(
    ("strategy", "where"),
    [
        ("abTest: {match: [{headers: {a: b}}], duration: 5m, cohort: {match: [{headers: {a: b}}]}}", "abTest.cohort"),
        ("mirror: {percent: 10, duration: 5m, cohort: {match: [{headers: {a: b}}]}}", "mirror.cohort"),
        ("cohort: {match: [{headers: {a: b}}]}\n    canary: {steps: [5]}", "cohort"),
    ],
)
def test_a_cohort_anywhere_but_under_canary_is_refused_and_told_where_it_belongs(strategy: str, where: str) -> None:
    found = problems(strategy)
    assert any(f" spec.strategy.{where}: cohort belongs to strategy.canary" in p for p in found), found


@pytest.mark.parametrize(
    ("cohort", "says"),
    [
        ("{match: []}", "the list is empty; give at least one item"),
        ("{}", "match"),
        ("{match: [{}]}", "a match needs at least one of headers, cookies or queryParams"),
        ("{match: [{headers: {x-beta: {exact: '1', prefix: '1'}}}]}", "give exactly one of exact, prefix or regex"),
        ("{match: [{headers: {x-beta: {regex: '('}}}]}", "'(' is not a regular expression"),
        ("{match: [{queryParams: {beta: {regex: 'a[b'}}}]}", "'a[b' is not a regular expression"),
        ("{match: [{cookies: {'a b': 'yes'}}]}", "'a b' is not a cookie name"),
        ("{match: [{cookies: {beta: 'a;b'}}]}", "'a;b' is not a cookie value"),
    ],
)
def test_an_empty_or_ambiguous_cohort_is_refused(cohort: str, says: str) -> None:
    found = problems(COHORT.replace("{match: [{headers: {x-beta: '1'}}]}", cohort))
    assert any(says in p and "cohort" in p for p in found), found


def test_a_cohort_and_session_affinity_compose() -> None:
    """Cohort requests are routed by their match; the weights' canary users are kept by the cookie. Neither
    undoes the other, so both are accepted (and both routes come before the weighted one)."""
    plan = run_plan(load(COHORT.replace("cohort:", "sessionAffinity: {}, cohort:")))
    assert plan.ab_matches and plan.affinity is not None


def test_statuses_written_before_the_cohort_existed_still_load() -> None:
    old = {"phase": "Progressing", "step": 1, "traffic": {"canaryWeight": 10, "abActive": False, "mirrorPercent": 0}}
    assert Status.model_validate(old).traffic.canary_weight == 10
