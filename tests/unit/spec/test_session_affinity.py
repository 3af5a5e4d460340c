"""strategy.canary.sessionAffinity: what it accepts, what it refuses and where it says so."""

from __future__ import annotations

import pytest

from rollout.plan import Kind, run_plan, sticky_session
from rollout.spec import SpecError
from rollout.spec.loader import load_experiments_text
from rollout.spec.models import Experiment

MESHES = {
    "istio": "{provider: istio, virtualService: checkout}",
    "gateway-api": "{provider: gateway-api, httpRoute: checkout}",
    "smi": "{provider: smi, trafficSplit: checkout}",
    "local": "{provider: local}",
}
STICKY = "canary: {steps: [10, 50], stepInterval: 1m, sessionAffinity: AFFINITY}"


def experiment_text(strategy: str, provider: str = "istio", affinity: str = "{}") -> str:
    return f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: checkout-v2, namespace: shop}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {MESHES[provider]}
  strategy:
    {strategy.replace("AFFINITY", affinity)}
  analysis:
    metrics: [{{name: error-rate, template: istio-error-rate}}]
"""


def load(strategy: str = STICKY, provider: str = "istio", affinity: str = "{}") -> Experiment:
    return load_experiments_text(experiment_text(strategy, provider, affinity), "x.yaml")[0]


def problems(strategy: str = STICKY, provider: str = "istio", affinity: str = "{}") -> list[str]:
    with pytest.raises(SpecError) as caught:
        load(strategy, provider, affinity)
    return [str(p) for p in caught.value.problems]


def test_an_empty_session_affinity_means_the_meshroll_canary_cookie_for_a_day() -> None:
    affinity = load().spec.strategy.canary.session_affinity  # type: ignore[union-attr]
    assert affinity is not None
    assert (affinity.cookie_name, affinity.max_age) == ("meshroll-canary", 86400.0)


@pytest.mark.parametrize("provider", ["istio", "gateway-api", "local"])
def test_istio_gateway_api_and_the_embedded_mesh_take_a_sticky_canary(provider: str) -> None:
    experiment = load(provider=provider, affinity='{cookieName: "beta_user.v2", maxAge: 2h}')
    affinity = run_plan(experiment).affinity
    assert affinity is not None and (affinity.cookie_name, affinity.max_age) == ("beta_user.v2", 7200)


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("has space", "' '"),
        ("a=b", "'='"),
        ("semi;colon", "';'"),
        ('quo\\"te', "'\"'"),
        ("paren(", "'('"),
        ("at@sign", "'@'"),
        ("slash/", "'/'"),
        ("café", "'é'"),
    ],
)
def test_a_cookie_name_must_be_an_rfc_6265_token(name: str, bad: str) -> None:
    found = problems(affinity=f'{{cookieName: "{name}"}}')
    assert len(found) == 1
    assert "spec.strategy.canary.sessionAffinity.cookieName" in found[0]
    assert f"{bad} is not allowed (RFC 6265" in found[0]


def test_secure_prefixed_cookie_names_are_refused_because_meshroll_sets_no_secure_attribute() -> None:
    for name in ("__Host-canary", "__Secure-canary"):
        [found] = problems(affinity=f"{{cookieName: {name}}}")
        assert "cookieName" in found and "Secure attribute" in found


def test_an_empty_or_long_cookie_name_is_refused() -> None:
    [empty] = problems(affinity='{cookieName: ""}')
    assert "cookieName: the cookie name is empty; leave cookieName out for meshroll-canary" in empty
    [long] = problems(affinity=f"{{cookieName: {'c' * 65}}}")
    assert "cookieName: a cookie name of 65 characters is too long; use at most 64" in long


@pytest.mark.parametrize(
    ("max_age", "message"),
    [
        ("0s", "at least 1s"),
        ("500ms", "at least 1s"),
        ("1.5s", "whole number of seconds"),
        ("401d", "above 400d"),
        ("soon", "not a duration"),
    ],
)
def test_max_age_is_whole_seconds_from_one_second_to_400_days(max_age: str, message: str) -> None:
    [found] = problems(affinity=f"{{maxAge: {max_age}}}")
    assert "spec.strategy.canary.sessionAffinity.maxAge" in found and message in found


def test_max_age_bounds_themselves_are_accepted() -> None:
    assert run_plan(load(affinity="{maxAge: 1s}")).affinity.max_age == 1  # type: ignore[union-attr]
    assert run_plan(load(affinity="{maxAge: 400d}")).affinity.max_age == 400 * 86400  # type: ignore[union-attr]


def test_smi_is_refused_in_one_line_naming_the_field_and_the_alternatives() -> None:
    [found] = problems(provider="smi")
    assert "spec.strategy.canary.sessionAffinity: SMI TrafficSplit cannot match cookies or set them" in found
    assert "use istio, gateway-api or local" in found
    assert "\n" not in found


@pytest.mark.parametrize(
    ("strategy", "where"),
    [
        ("abTest: {match: [{headers: {x-beta: 'yes'}}], duration: 10m, sessionAffinity: {}}", "abTest"),
        ("mirror: {percent: 10, duration: 10m, sessionAffinity: {}}", "mirror"),
    ],
)
def test_session_affinity_on_an_ab_test_or_a_mirror_only_run_says_where_it_belongs(strategy: str, where: str) -> None:
    [found] = problems(strategy=strategy)
    assert f" spec.strategy.{where}.sessionAffinity: sessionAffinity belongs to strategy.canary" in found


def test_session_affinity_under_an_ab_test_is_pointed_at_by_its_own_line_column_and_path() -> None:
    strategy = (
        "abTest:\n      match: [{headers: {x-beta: 'yes'}}]\n      duration: 10m\n"
        "      sessionAffinity: {cookieName: sticky}"
    )
    [found] = problems(strategy=strategy)
    assert found.startswith(
        "x.yaml:11:7 spec.strategy.abTest.sessionAffinity: sessionAffinity belongs to strategy.canary (it keeps "
        "users the weights sent to the canary there); an A/B test already routes its whole cohort to the canary "
        "by match: move it under strategy.canary, or remove it"
    ), found


def test_a_sticky_run_gives_the_engine_the_observed_share_as_ab_and_mirror_runs_do() -> None:
    sticky, plain = run_plan(load()), run_plan(load(strategy="canary: {steps: [10, 50], stepInterval: 1m}"))
    assert sticky.kind is plain.kind is Kind.CANARY
    assert sticky.observed_split and not plain.observed_split


def test_a_canary_with_a_mirror_beside_it_is_judged_at_the_share_it_serves() -> None:
    """At weight 50 with every request mirrored, the canary serves about 2 of every 3 requests (its half, and
    copies of stable's): judged at its weight, every step failed the traffic-split check."""
    mirrored = run_plan(load(strategy="canary: {steps: [50], stepInterval: 1m}\n    mirror: {percent: 100}"))
    assert mirrored.kind is Kind.CANARY and mirrored.mirror_percent == 100 and mirrored.observed_split


def test_the_cookie_is_on_only_while_both_arms_get_traffic_and_names_the_run() -> None:
    affinity = run_plan(load(affinity="{maxAge: 1h}")).affinity
    on = sticky_session(affinity, "shop/checkout-v2", 1700000000.25, 10)
    assert on is not None
    assert on.set_cookie == "meshroll-canary=shop.checkout-v2.1700000000250; Max-Age=3600; Path=/"
    again = sticky_session(affinity, "shop/checkout-v2", 1700000999.0, 10)
    assert again is not None and again.value != on.value  # another run: the old cookie is inert
    for weight in (0, 100):  # rolled back, aborted, superseded; promoted
        assert sticky_session(affinity, "shop/checkout-v2", 1700000000.25, weight) is None
    assert sticky_session(None, "shop/checkout-v2", 1700000000.25, 10) is None


# --- primaryCookieName: stable's users pinned too ---------------------------------------------------


@pytest.mark.parametrize("provider", ["istio", "gateway-api", "local"])
def test_primary_cookie_name_pins_stable_on_istio_gateway_api_and_the_embedded_mesh(provider: str) -> None:
    experiment = load(provider=provider, affinity="{cookieName: beta, primaryCookieName: stable_user.v1, maxAge: 1h}")
    affinity = run_plan(experiment).affinity
    assert affinity is not None and affinity.primary_cookie_name == "stable_user.v1"
    on = sticky_session(affinity, "shop/checkout-v2", 1700000000.25, 25)
    assert on is not None
    assert on.primary_set_cookie == "stable_user.v1=shop.checkout-v2.1700000000250; Max-Age=3600; Path=/"
    assert on.set_cookie == "beta=shop.checkout-v2.1700000000250; Max-Age=3600; Path=/"


def test_without_primary_cookie_name_stable_is_not_pinned() -> None:
    affinity = run_plan(load()).affinity
    assert affinity is not None and affinity.primary_cookie_name is None
    on = sticky_session(affinity, "shop/checkout-v2", 1700000000.25, 25)
    assert on is not None and on.primary_set_cookie is None and on.primary_match is None


@pytest.mark.parametrize(
    ("affinity", "named"),
    [
        ("{cookieName: beta, primaryCookieName: beta}", "'beta'"),
        ("{primaryCookieName: meshroll-canary}", "'meshroll-canary'"),  # cookieName's default
    ],
)
def test_primary_cookie_name_must_differ_from_cookie_name(affinity: str, named: str) -> None:
    [found] = problems(affinity=affinity)
    assert f"spec.strategy.canary.sessionAffinity: primaryCookieName and cookieName are both {named}" in found
    assert "give primaryCookieName another name" in found
    assert "\n" not in found


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ('"has space"', "' ' is not allowed (RFC 6265"),
        ('"a=b"', "'=' is not allowed (RFC 6265"),
        ("__Host-stable", "Secure attribute"),
        ("c" * 65, "a cookie name of 65 characters is too long"),
        ('""', "the cookie name is empty; leave primaryCookieName out to pin canary users alone"),
    ],
)
def test_primary_cookie_name_is_checked_like_cookie_name_and_the_error_names_it(name: str, says: str) -> None:
    [found] = problems(affinity=f"{{primaryCookieName: {name}}}")
    assert "spec.strategy.canary.sessionAffinity.primaryCookieName: " in found and says in found


def test_primary_cookie_name_on_smi_is_refused_with_the_rest_of_session_affinity() -> None:
    [found] = problems(provider="smi", affinity="{primaryCookieName: stable}")
    assert "spec.strategy.canary.sessionAffinity: SMI TrafficSplit cannot match cookies or set them" in found
