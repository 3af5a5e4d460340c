"""A TrafficPlan rendered into a user's SMI TrafficSplit. Pure.

meshroll writes only the ``weight`` of the stable and canary backends; other backends keep theirs
exactly as written (same value, same representation). SMI weights are relative, so to keep the
other backends' share of the traffic, meshroll splits between stable and canary the weight they
hold together, instead of writing 100 in all: with stable ``500m``, canary absent and another
backend at ``250m``, a 90/10 plan writes ``450m`` and ``50m``. When the other backends hold no
weight at all, meshroll writes integers summing to 100, as before.

Weights are read as Kubernetes quantities (``parse_quantity``): Linkerd's ``v1alpha1`` accepts
``500m``, ``1.5`` or ``2k`` (``x-kubernetes-int-or-string``); later versions take numbers. meshroll
writes integers where the split is whole, and otherwise a quantity string where the apiVersion
accepts one (``v1alpha1``), or integers rounded so that the total still matches (the others' share
stays exact; the stable/canary ratio is as close as whole numbers allow).

A canary backend is added when the canary first gets traffic and removed again at 0; one the user
wrote is kept at weight 0. SMI can neither mirror, route a cohort, keep sessions sticky, nor inject
faults: such plans are refused.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from rollout.mesh.errors import MeshError
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_common import add_field, claim, read_ownership, remove_field, set_weights, write_ownership

Obj = dict[str, Any]

#: The apiVersions (``split.smi-spec.io/<version>``) whose ``weight`` is a quantity (int-or-string).
QUANTITY_VERSIONS = frozenset({"v1alpha1"})

# resource.Quantity's grammar (k8s.io/apimachinery/pkg/api/resource): a signed decimal number and
# one suffix: binary SI (Ki..Ei), decimal SI (n, u, m, none, k, M, G, T, P, E) or a decimal exponent.
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>[eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?"
)
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_NANO = Fraction(1, 10**9)
_MAX_EXPONENT = 100  # far beyond any weight; keeps "1e999999999" from building a huge number


def parse_quantity(text: str) -> Fraction:
    """The value of a Kubernetes quantity (``500m``, ``1``, ``1.5``, ``2k``, ``1Ki``, ``5e-3``).

    Read as ``resource.ParseQuantity`` does: precision finer than ``1n`` is rounded up (away from 0).
    ValueError, saying why, when ``text`` is not a quantity.
    """
    found = _QUANTITY.fullmatch(text)
    if found is None:
        raise ValueError("expected a number with an optional suffix (n, u, m, k, M, G, T, P, E, Ki..Ei or e<exp>)")
    number, suffix = found["number"], found["suffix"] or ""
    whole, _, fraction = number.partition(".")
    value = Fraction(int(whole or "0") * 10 ** len(fraction) + int(fraction or "0"), 10 ** len(fraction))
    if suffix in _BINARY_SI:
        value *= 2 ** _BINARY_SI[suffix]
    else:
        exponent = _DECIMAL_SI[suffix] if suffix in _DECIMAL_SI else int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"exponent {exponent} is out of range")
        value *= Fraction(10) ** exponent
    value = math.ceil(value / _NANO) * _NANO
    return -value if found["sign"] == "-" else value


def format_quantity(value: Fraction) -> int | str:
    """``value`` (at least 0, a multiple of 1n) as written back: an integer when whole, else ``450m``/``u``/``n``."""
    if value.denominator == 1:
        return int(value)
    nanos = int(value / _NANO)
    for suffix, scale in (("m", 10**6), ("u", 10**3)):
        if nanos % scale == 0:
            return f"{nanos // scale}{suffix}"
    return f"{nanos}n"


@dataclass(frozen=True)
class SmiSettings:
    owner: str
    namespace: str
    traffic_split: str
    stable_service: str
    canary_service: str

    @property
    def what(self) -> str:
        return f"TrafficSplit {self.namespace}/{self.traffic_split}"

    @property
    def canary_backend_field(self) -> str:
        return f"backends[service={self.canary_service}]"


def _refuse_unsupported(plan: TrafficPlan) -> None:
    if plan.faults:
        raise MeshError("SMI TrafficSplit cannot inject faults; use provider istio or local for spec.chaos.faults")
    if plan.mirror_percent > 0:
        raise MeshError("SMI TrafficSplit cannot mirror; use provider istio or gateway-api for spec.strategy.mirror")
    if plan.ab_matches:
        raise MeshError(
            "meshroll's SMI provider cannot route a cohort (SMI needs an HTTPRouteGroup per cohort); "
            "use provider istio or gateway-api for spec.strategy.abTest or spec.strategy.canary.cohort"
        )
    if plan.affinity is not None:
        raise MeshError(
            "SMI TrafficSplit cannot match or set cookies; use provider istio, gateway-api or local for "
            "spec.strategy.canary.sessionAffinity"
        )


def _find(backends: list[Any], service: str) -> Obj | None:
    for backend in backends:
        if isinstance(backend, dict) and backend.get("service") == service:
            return backend
    return None


def _weight(backend: object, index: int, what: str) -> Fraction:
    """One backend's weight (a missing one counts 0); MeshError naming the object and field if it is bad."""
    where = f"{what}: spec.backends[{index}].weight"
    value = backend.get("weight", 0) if isinstance(backend, dict) else 0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MeshError(f"{where} is {value!r}, not a number or quantity; write e.g. 1, 500m or 1.5")
    try:
        weight = parse_quantity(value) if isinstance(value, str) else parse_quantity(repr(value))
    except ValueError as exc:
        raise MeshError(
            f"{where} {value!r} is not a Kubernetes quantity ({exc}); write e.g. 1, 500m, 1.5 or 2k"
        ) from exc
    if weight < 0:
        raise MeshError(f"{where} {value!r} is negative; weights must be 0 or more")
    return weight


def _split(total: Fraction, plan: TrafficPlan, quantities: bool, settings: SmiSettings) -> tuple[Fraction, Fraction]:
    """Stable's and canary's weights: ``total`` (what they hold together) split as ``plan`` says."""
    if total == 0 and plan.canary_weight > 0:
        raise MeshError(
            f"{settings.what}: backends {settings.stable_service} and {settings.canary_service} have weight 0 "
            "while other backends take all the traffic, and meshroll keeps those backends' share; "
            f"give {settings.stable_service} the weight it should share, then retry"
        )
    if not quantities and total.denominator != 1:
        raise MeshError(
            f"{settings.what}: backends {settings.stable_service} and {settings.canary_service} hold weight "
            f"{float(total):g} together, which this apiVersion cannot split into whole numbers while keeping "
            "the other backends' share; give them whole weights, then retry"
        )
    exact = total * plan.stable_weight / 100
    stable = Fraction(round(exact / _NANO)) * _NANO if quantities else Fraction(round(exact))
    return stable, total - stable


def render(current: Mapping[str, Any], plan: TrafficPlan, settings: SmiSettings) -> Obj:
    """The TrafficSplit holding ``plan``'s weights; ``current`` is not modified."""
    _refuse_unsupported(plan)
    split: Obj = copy.deepcopy(dict(current))
    ownership = claim(read_ownership(split, None), settings.owner, settings.what, entries=(), live_fields=())
    spec = split.get("spec")
    backends = spec.get("backends") if isinstance(spec, dict) else None
    if not isinstance(backends, list):
        raise MeshError(
            f"{settings.what} has no backends; add one for Service {settings.stable_service} "
            "(meshroll weights it but does not create it)"
        )
    stable = _find(backends, settings.stable_service)
    if stable is None:
        raise MeshError(
            f"{settings.what} has no backend for Service {settings.stable_service}; add it, or fix "
            "spec.target.stable.service (per-version Services default to <service>-<version>)"
        )
    canary = _find(backends, settings.canary_service)
    weights = [_weight(backend, i, settings.what) for i, backend in enumerate(backends)]
    ours = sum((w for b, w in zip(backends, weights, strict=True) if b is stable or b is canary), Fraction(0))
    others = sum(weights, Fraction(0)) - ours
    created = settings.canary_backend_field
    if canary is None and plan.canary_weight > 0:
        canary = {"service": settings.canary_service, "weight": 0}
        backends.insert(backends.index(stable) + 1, canary)
        add_field(ownership, created)
    if plan.canary_weight == 0 and created in ownership.fields:
        if canary is not None:
            backends.remove(canary)
            canary = None
        remove_field(ownership, created)
    set_weights(backends, stable, canary, plan, ownership, f"backends[service={settings.stable_service}].weight")
    if others > 0:  # keep the other backends' share: stable and canary split what they held together
        quantities = str(split.get("apiVersion", "")).rpartition("/")[2] in QUANTITY_VERSIONS
        stable_weight, canary_weight = _split(ours, plan, quantities, settings)
        stable["weight"] = format_quantity(stable_weight)
        if canary is not None:
            canary["weight"] = format_quantity(canary_weight)
    write_ownership(split, ownership, None)
    return split
