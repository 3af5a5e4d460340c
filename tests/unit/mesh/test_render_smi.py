"""Rendering a plan into an SMI TrafficSplit: the two weights, nothing else."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_smi import SmiSettings, format_quantity, parse_quantity, render
from tests.unit.mesh.crd_schema import example, problems
from tests.unit.mesh.samples import BETA, OWNER, V1ALPHA4, fault

LINKERD = example("smi-trafficsplit-v1alpha1-quantity-weights.yaml")[0]
LINKERD_SETTINGS = SmiSettings(OWNER, "default", "backend-traffic-split", "backend-svc", "failing-svc")
V1ALPHA4_SETTINGS = SmiSettings(OWNER, "test", "podinfo", "podinfo-primary", "podinfo-canary")


def test_weights_are_integers_even_where_linkerd_wrote_quantities() -> None:
    split = render(LINKERD, TrafficPlan(75, 25), LINKERD_SETTINGS)
    assert split["spec"]["backends"] == [
        {"service": "backend-svc", "weight": 75},
        {"service": "failing-svc", "weight": 25},
    ]
    assert problems(split) == []
    assert split["spec"]["service"] == "backend-svc" and split["metadata"] == LINKERD["metadata"]


def test_a_canary_backend_is_added_after_the_stable_one_and_removed_at_zero() -> None:
    split = render(V1ALPHA4, TrafficPlan(90, 10), V1ALPHA4_SETTINGS)
    assert [b["service"] for b in split["spec"]["backends"]] == ["podinfo-primary", "podinfo-canary", "podinfo-legacy"]
    assert problems(split) == []
    assert render(split, TrafficPlan.all_stable(), V1ALPHA4_SETTINGS) == V1ALPHA4


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (TrafficPlan(mirror_percent=10.0), "cannot mirror"),
        (TrafficPlan(ab_matches=(BETA,)), "cannot route a cohort"),
        (TrafficPlan(faults=(fault(0, abort=500),)), "cannot inject faults"),
    ],
)
def test_what_smi_cannot_do_is_refused_with_the_alternatives(plan: TrafficPlan, message: str) -> None:
    with pytest.raises(MeshError, match=message):
        render(V1ALPHA4, plan, V1ALPHA4_SETTINGS)


def test_a_missing_stable_backend_says_how_services_are_named() -> None:
    broken = copy.deepcopy(V1ALPHA4)
    broken["spec"]["backends"] = [{"service": "other", "weight": 1}]
    with pytest.raises(MeshError, match=r"no backend for Service podinfo-primary.*<service>-<version>"):
        render(broken, TrafficPlan(90, 10), V1ALPHA4_SETTINGS)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 100), st.integers(0, 100))
def test_any_weights_render_idempotently_and_validly(first: int, canary: int) -> None:
    plan = TrafficPlan(100 - canary, canary)
    for original, config in ((V1ALPHA4, V1ALPHA4_SETTINGS), (LINKERD, LINKERD_SETTINGS)):
        split = render(render(original, TrafficPlan(100 - first, first), config), plan, config)
        assert split == render(original, plan, config) == render(split, plan, config)
        assert problems(split) == []
        assert {k: v for k, v in split["spec"].items() if k != "backends"} == {
            k: v for k, v in original["spec"].items() if k != "backends"
        }


# --- quantity weights and backends meshroll does not own --------------------------------------

LINKERD_THREE: dict[str, object] = {
    **LINKERD,
    "spec": {
        "service": "backend-svc",
        "backends": [{"service": "backend-svc", "weight": "500m"}, {"service": "legacy-svc", "weight": "250m"}],
    },
}
V1ALPHA4_THREE = copy.deepcopy(V1ALPHA4)
V1ALPHA4_THREE["spec"]["backends"] = [
    {"service": "podinfo-primary", "weight": 60},
    {"service": "podinfo-legacy", "weight": 40},
]


def share(split: Mapping[str, Any], service: str) -> Fraction:
    weights = {b["service"]: parse_quantity(str(b["weight"])) for b in split["spec"]["backends"]}
    return weights[service] / sum(weights.values())


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("0m", Fraction(0)),
        ("1", Fraction(1)),
        ("1.5", Fraction(3, 2)),
        ("2k", Fraction(2000)),
        ("3M", Fraction(3 * 10**6)),
        ("1E", Fraction(10**18)),
        ("1Ki", Fraction(1024)),
        ("2Mi", Fraction(2 * 2**20)),
        ("100u", Fraction(1, 10_000)),
        ("7n", Fraction(7, 10**9)),
        ("0.1n", Fraction(1, 10**9)),  # finer than 1n rounds up, as resource.ParseQuantity does
        (".5", Fraction(1, 2)),
        ("1.", Fraction(1)),
        ("+3", Fraction(3)),
        ("-1", Fraction(-1)),
        ("5e-3", Fraction(1, 200)),
        ("1E3", Fraction(1000)),
        ("1.5e+2", Fraction(150)),
        ("007", Fraction(7)),
    ],
)
def test_quantities_are_read_as_kubernetes_reads_them(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "m",
        "k",
        ".",
        "+",
        "-m",
        "abc",
        "1.2.3",
        "1 m",
        " 1",
        "1\n",
        "1x",
        "1e",
        "1e1.5",
        "1Km",
        "1KI",
        "1ki",
        "1mi",
        "1.5.m",
        "--1",
        "1e999999999",
        "\u0661",
        "½",
        "0x10",
        "1_000",
        "inf",
        "nan",
    ],
)
def test_malformed_quantities_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Fraction(2), 2),
        (Fraction(0), 0),
        (Fraction(9, 20), "450m"),
        (Fraction(3, 2), "1500m"),
        (Fraction(1, 10**6), "1u"),
        (Fraction(123, 10**9), "123n"),
    ],
)
def test_weights_are_written_as_integers_or_canonical_quantities(value: Fraction, written: int | str) -> None:
    assert format_quantity(value) == written
    assert parse_quantity(str(written)) == value


def test_a_foreign_quantity_weight_is_kept_and_keeps_its_share() -> None:
    before = share(LINKERD_THREE, "legacy-svc")
    split = render(LINKERD_THREE, TrafficPlan(90, 10), LINKERD_SETTINGS)
    assert split["spec"]["backends"] == [
        {"service": "backend-svc", "weight": "450m"},
        {"service": "failing-svc", "weight": "50m"},
        {"service": "legacy-svc", "weight": "250m"},
    ]
    assert share(split, "legacy-svc") == before == Fraction(1, 3)
    assert share(split, "failing-svc") == Fraction(10, 100) * (1 - before)
    assert problems(split) == []
    assert render(split, TrafficPlan.all_stable(), LINKERD_SETTINGS) == LINKERD_THREE


def test_integer_versions_split_what_stable_and_canary_held_in_whole_numbers() -> None:
    split = render(V1ALPHA4_THREE, TrafficPlan(75, 25), V1ALPHA4_SETTINGS)
    weights = [(b["service"], b["weight"]) for b in split["spec"]["backends"]]
    assert weights == [("podinfo-primary", 45), ("podinfo-canary", 15), ("podinfo-legacy", 40)]
    assert problems(split) == []
    rounded = render(V1ALPHA4_THREE, TrafficPlan(99, 1), V1ALPHA4_SETTINGS)["spec"]["backends"]
    assert [b["weight"] for b in rounded] == [59, 1, 40]  # 59.4/0.6 rounded; the legacy share stays 40%


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (
            "5x",
            r"^TrafficSplit default/backend-traffic-split: "
            r"spec\.backends\[1\]\.weight '5x' is not a Kubernetes quantity",
        ),
        ("-250m", r"spec\.backends\[1\]\.weight '-250m' is negative"),
        (True, r"spec\.backends\[1\]\.weight is True, not a number or quantity"),
        ({"value": 1}, r"spec\.backends\[1\]\.weight is \{'value': 1\}, not a number"),
    ],
)
def test_a_bad_weight_is_refused_in_one_line_naming_object_and_field(weight: object, message: str) -> None:
    broken = copy.deepcopy(LINKERD_THREE)
    broken["spec"]["backends"][1]["weight"] = weight  # type: ignore[index]
    with pytest.raises(MeshError, match=message) as caught:
        render(broken, TrafficPlan(90, 10), LINKERD_SETTINGS)
    assert "\n" not in str(caught.value)


def test_traffic_cannot_be_shifted_when_other_backends_hold_it_all() -> None:
    starved = copy.deepcopy(LINKERD_THREE)
    starved["spec"]["backends"][0]["weight"] = "0m"  # type: ignore[index]
    with pytest.raises(MeshError, match="other backends take all the traffic"):
        render(starved, TrafficPlan(90, 10), LINKERD_SETTINGS)
    assert render(starved, TrafficPlan.all_stable(), LINKERD_SETTINGS)["spec"]["backends"][0]["weight"] == 0


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 5000), st.integers(0, 100), st.integers(0, 100))
def test_other_backends_keep_their_weight_and_share_whatever_the_plans(
    stable_milli: int, legacy_milli: int, first: int, canary: int
) -> None:
    original = copy.deepcopy(LINKERD_THREE)
    original["spec"]["backends"] = [  # type: ignore[index]
        {"service": "backend-svc", "weight": f"{stable_milli}m"},
        {"service": "legacy-svc", "weight": f"{legacy_milli}m"},
    ]
    plan = TrafficPlan(100 - canary, canary)
    split = render(render(original, TrafficPlan(100 - first, first), LINKERD_SETTINGS), plan, LINKERD_SETTINGS)
    assert split == render(original, plan, LINKERD_SETTINGS) == render(split, plan, LINKERD_SETTINGS)
    assert split["spec"]["backends"][-1] == {"service": "legacy-svc", "weight": f"{legacy_milli}m"}
    if legacy_milli:
        assert share(split, "legacy-svc") == share(original, "legacy-svc")
        if canary:
            ours = 1 - share(split, "legacy-svc")
            assert abs(share(split, "failing-svc") / ours - Fraction(canary, 100)) <= Fraction(1, 10**6)
    assert problems(split) == []
