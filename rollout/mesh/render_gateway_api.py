"""A TrafficPlan rendered into a user's Gateway API HTTPRoute (v1, GAMMA or Gateway parents). Pure.

What meshroll writes (everything else stays as it was: parentRefs, hostnames, other rules and
their order, filters, timeouts):

- In the managed rule (``spec.mesh.rule``, or the first rule with a backendRef to the stable
  Service): the ``weight`` of the stable and canary Service backendRefs (summing to 100). A canary
  backendRef is created right after the stable one when the canary first gets traffic, and
  removed when it returns to 0; one the user wrote is kept, at weight 0.
- A ``RequestMirror`` filter to the canary Service with ``percent`` (or ``fraction`` for a
  non-integer percent) on the managed rule while the plan mirrors; removed at 0. A RequestMirror
  the user wrote is never overwritten or doubled: mirroring is refused instead.
- For A/B, a rule ``meshroll-ab-<namespace>.<name>`` inserted just before the managed rule. Its
  matches are the managed rule's matches ANDed with the cohort, so it covers no request the
  managed rule would not, and (having more header matches) it takes precedence over it; it
  copies the managed rule's filters and timeouts and sends everything to the canary Service.
  Gateway API headers and query parameters match ``Exact`` or ``RegularExpression`` only: a
  prefix match is written as the regular expression ``^<escaped prefix>.*``.
- With session affinity, a rule ``meshroll-affinity-<namespace>.<name>`` built like the A/B rule
  for the requests whose ``Cookie`` header carries the run's cookie (a ``RegularExpression``
  match), and a ``ResponseHeaderModifier`` filter adding ``Set-Cookie`` on the managed rule's
  canary backendRef (see ``render_affinity``). With a pinned stable (``primaryCookieName``), the
  same for stable: a rule ``meshroll-stable-affinity-<namespace>.<name>`` after the canary's, to a
  copy of the stable backendRef (its filters kept), and a ``Set-Cookie`` on the stable backendRef.
- The annotations described in ``render_common`` (entries under ``meshroll.io/owned-rules``).

``rules`` is an atomic list, so the whole list is written back, but only the above changes.
Gateway API has no fault injection: a plan with faults is refused.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.matching import RequestMatch
from rollout.mesh.errors import MeshError, TargetMissing
from rollout.mesh.plan import TrafficPlan
from rollout.mesh.render_affinity import CANARY, STABLE, affinity_entries, cookie_field, set_gateway_cookie
from rollout.mesh.render_common import (
    Ownership,
    ab_entry_name,
    add_field,
    claim,
    is_meshroll_name,
    is_owned_name,
    read_ownership,
    refuse_other_weights,
    remove_field,
    revert_beside_others,
    set_weights,
    weight_of,
    write_ownership,
)
from rollout.mesh.render_gateway_api_parts import ab_matches, find_ref, is_service_ref, ref_like

Obj = dict[str, Any]

RULES_ANNOTATION = "meshroll.io/owned-rules"
MIRROR_FIELD = "filters[RequestMirror]"
MAX_RULES = 16
MAX_MATCHES_PER_RULE = 64
MAX_MATCHES = 128


@dataclass(frozen=True)
class GatewayApiSettings:
    owner: str  # the experiment's namespace/name
    namespace: str
    http_route: str
    stable_service: str
    canary_service: str
    rule: str | None = None

    @property
    def what(self) -> str:
        return f"HTTPRoute {self.namespace}/{self.http_route}"

    @property
    def canary_ref_field(self) -> str:
        return f"backendRefs[name={self.canary_service}]"

    @property
    def cookie_field(self) -> str:
        return cookie_field(self.canary_ref_field)

    @property
    def primary_cookie_field(self) -> str:
        """The owned-fields mark of the Set-Cookie on the stable backendRef (``primaryCookieName``)."""
        return cookie_field(f"backendRefs[name={self.stable_service}]")


def render(current: Mapping[str, Any], plan: TrafficPlan, settings: GatewayApiSettings) -> Obj:
    """The HTTPRoute holding ``plan``; ``current`` is not modified. Raises MeshError when it cannot."""
    if plan.faults:
        raise MeshError(
            "Gateway API has no fault injection (no GEP defines one); use provider istio or local, "
            "or remove spec.chaos.faults"
        )
    route: Obj = copy.deepcopy(dict(current))
    rules = _rules(route, settings)
    filters = rules[managed_index(rules, settings)].get("filters")
    mirrors = isinstance(filters, list) and any(
        isinstance(f, dict) and f.get("type") == "RequestMirror" for f in filters
    )
    ownership = claim(
        read_ownership(route, RULES_ANNOTATION),
        settings.owner,
        settings.what,
        entries=[r.get("name") for r in rules],
        live_fields=[MIRROR_FIELD] if mirrors else [],
    )
    rules = [r for r in rules if not _is_mine(r, ownership, settings.owner)]
    index = managed_index(rules, settings)
    managed = rules[index]
    label = rule_label(managed, settings)
    stable = _set_weights(managed, plan, settings, ownership, label)
    _set_mirror(managed, plan.mirror_percent, stable, settings, ownership, label)
    canary = find_ref(managed, settings.canary_service, settings.namespace)
    set_gateway_cookie(canary, None, ownership, settings.cookie_field, label)  # the rules below copy no cookie
    set_gateway_cookie(stable, None, ownership, settings.primary_cookie_field, label, STABLE)
    cohorts = [(ab_entry_name(settings.owner), plan.ab_matches, CANARY)] if plan.ab_matches else []
    cohorts += affinity_entries(plan.affinity, settings.owner)
    added = [_ab_rule(name, cohort, managed, stable, settings, label, arm) for name, cohort, arm in cohorts]
    set_gateway_cookie(canary, plan.affinity, ownership, settings.cookie_field, label)
    set_gateway_cookie(stable, plan.affinity, ownership, settings.primary_cookie_field, label, STABLE)
    rules[index:index] = added
    _check_limits(rules, settings)
    route["spec"]["rules"] = rules
    ownership.entries = [str(r["name"]) for r in added]
    write_ownership(route, ownership, RULES_ANNOTATION)
    return route


def sweep(current: Mapping[str, Any], owner: str, settings: GatewayApiSettings) -> tuple[Obj, list[str]]:
    """Remove what ``owner`` added (the A/B and affinity rules, the mirror filter, the Set-Cookies); keep weights."""
    route: Obj = copy.deepcopy(dict(current))
    ownership = read_ownership(route, RULES_ANNOTATION)
    mine = ownership if ownership.owner == owner else Ownership()
    rules = route.get("spec", {}).get("rules")
    if not isinstance(rules, list):
        return route, []
    removed = [str(r.get("name")) for r in rules if _is_mine(r, mine, owner)]
    kept = [r for r in rules if not _is_mine(r, mine, owner)]
    owned = [f for f in (MIRROR_FIELD, settings.cookie_field, settings.primary_cookie_field) if f in ownership.fields]
    if ownership.owner == owner and owned:
        try:
            managed = kept[managed_index(kept, settings)]
        except MeshError:
            managed = None
        if managed is not None and MIRROR_FIELD in owned:
            _drop_mirror(managed, settings)
            remove_field(ownership, MIRROR_FIELD)
            removed.append(f"{rule_label(managed, settings)}.filters[RequestMirror]")
        if managed is not None and settings.cookie_field in owned:
            canary = find_ref(managed, settings.canary_service, settings.namespace)
            set_gateway_cookie(canary, None, ownership, settings.cookie_field, rule_label(managed, settings))
            removed.append(f"{rule_label(managed, settings)}.{settings.cookie_field}")
        if managed is not None and settings.primary_cookie_field in owned:
            stable = find_ref(managed, settings.stable_service, settings.namespace)
            label = rule_label(managed, settings)
            set_gateway_cookie(stable, None, ownership, settings.primary_cookie_field, label, STABLE)
            removed.append(f"{label}.{settings.primary_cookie_field}")
    if not removed:
        return route, []
    route["spec"]["rules"] = kept
    if ownership.owner == owner:
        ownership.entries = []
        write_ownership(route, ownership, RULES_ANNOTATION)
    return route, removed


# --- finding things -----------------------------------------------------------------------------


def _rules(route: Obj, settings: GatewayApiSettings) -> list[Obj]:
    spec = route.get("spec")
    rules = spec.get("rules") if isinstance(spec, dict) else None
    if not isinstance(rules, list) or not rules:
        raise MeshError(f"{settings.what} has no rules; add one with a backendRef to Service {settings.stable_service}")
    if not all(isinstance(r, dict) for r in rules):
        raise MeshError(f"{settings.what} has a rule that is not an object; fix it with kubectl edit")
    return rules


def _is_mine(rule: Mapping[str, Any], ownership: Ownership, owner: str) -> bool:
    name = rule.get("name")
    return is_owned_name(name, owner) or (ownership.owner == owner and name in ownership.entries)


def managed_index(rules: list[Obj], settings: GatewayApiSettings) -> int:
    """The rule meshroll weights: the one named in the spec, else the first with the stable Service."""
    candidates = [(i, r) for i, r in enumerate(rules) if not is_meshroll_name(r.get("name"))]
    if settings.rule is not None:
        for i, rule in candidates:
            if rule.get("name") == settings.rule:
                return i
        names = ", ".join(str(r.get("name", "<unnamed>")) for _, r in candidates)
        raise TargetMissing(
            f"{settings.what} has no rule named {settings.rule!r} (it has: {names}); "
            "fix spec.mesh.rule, or give the rule that name"
        )
    for i, rule in candidates:
        if find_ref(rule, settings.stable_service, settings.namespace) is not None:
            return i
    raise TargetMissing(
        f"{settings.what} has no rule with a backendRef to Service {settings.stable_service}; add one, "
        "or set spec.target.stable.service (per-version Services default to <service>-<version>)"
    )


def rule_label(rule: Mapping[str, Any], settings: GatewayApiSettings) -> str:
    name = rule.get("name")
    return f"rule {name!r} of {settings.what}" if name else f"the first rule of {settings.what} to the stable Service"


# --- weights and mirroring ----------------------------------------------------------------------


def _set_weights(managed: Obj, plan: TrafficPlan, s: GatewayApiSettings, ownership: Ownership, label: str) -> Obj:
    stable = find_ref(managed, s.stable_service, s.namespace)
    if stable is None:
        raise TargetMissing(
            f"{label} has no backendRef to Service {s.stable_service}; add it (meshroll weights it but does not "
            "create it), or fix spec.target.stable.service"
        )
    refs: list[Any] = managed["backendRefs"]
    canary = find_ref(managed, s.canary_service, s.namespace)
    returned = weight_of(canary)
    created = s.canary_ref_field
    if canary is None and plan.canary_weight > 0:
        canary = ref_like(stable, s.canary_service)
        refs.insert(refs.index(stable) + 1, canary)
        add_field(ownership, created)
    if plan.canary_weight == 0 and created in ownership.fields:
        if canary is not None:
            refs.remove(canary)
            canary = None
        remove_field(ownership, created)
    field = f"backendRefs[name={s.stable_service}].weight"
    if plan.canary_weight == 0 and revert_beside_others(refs, stable, canary, returned, ownership, field):
        return stable
    refuse_other_weights(refs, stable, canary, plan, label)
    set_weights(refs, stable, canary, plan, ownership, field)
    return stable


def _is_our_mirror(item: object, s: GatewayApiSettings) -> bool:
    if not isinstance(item, dict) or item.get("type") != "RequestMirror":
        return False
    mirror = item.get("requestMirror")
    return isinstance(mirror, dict) and is_service_ref(mirror.get("backendRef"), s.canary_service, s.namespace)


def _drop_mirror(managed: Obj, s: GatewayApiSettings) -> None:
    filters = managed.get("filters")
    if isinstance(filters, list):
        kept = [f for f in filters if not _is_our_mirror(f, s)]
        if kept:
            managed["filters"] = kept
        else:
            del managed["filters"]


def _set_mirror(
    managed: Obj, percent: float, stable: Mapping[str, Any], s: GatewayApiSettings, ownership: Ownership, label: str
) -> None:
    owned = MIRROR_FIELD in ownership.fields
    if percent <= 0:
        if owned:
            _drop_mirror(managed, s)
            remove_field(ownership, MIRROR_FIELD)
        return
    filters = managed.get("filters")
    present = filters if isinstance(filters, list) else []
    theirs = [f for f in present if isinstance(f, dict) and f.get("type") == "RequestMirror"]
    if theirs and not (owned and all(_is_our_mirror(f, s) for f in theirs)):
        raise MeshError(
            f"{label} already has a RequestMirror filter the user wrote; meshroll will not overwrite it or add a "
            "second one: remove it from the rule, or drop spec.strategy.mirror"
        )
    backend = {key: value for key, value in ref_like(stable, s.canary_service).items() if key != "weight"}
    amount: Obj = (
        {"percent": int(percent)}
        if float(percent).is_integer()
        else {"fraction": {"numerator": round(percent * 100), "denominator": 10000}}
    )
    ours = {"type": "RequestMirror", "requestMirror": {"backendRef": backend, **amount}}
    kept = [f for f in present if not _is_our_mirror(f, s)]
    managed["filters"] = [*kept, ours]
    add_field(ownership, MIRROR_FIELD)


# --- the A/B rule -------------------------------------------------------------------------------


def _ab_rule(
    name: str,
    cohort: Sequence[RequestMatch],
    managed: Obj,
    stable: Obj,
    s: GatewayApiSettings,
    label: str,
    arm: str = CANARY,
) -> Obj:
    """A rule sending ``cohort`` (the A/B or canary cohort, or the holders of the session cookie) to the canary;
    with ``arm`` stable (the holders of stable's session cookie), to a copy of the stable backendRef, keeping
    the managed rule's mirror."""
    rule: Obj = {"name": name, "matches": ab_matches(managed.get("matches"), cohort, label)}
    for key, value in managed.items():
        if key not in ("name", "matches", "backendRefs", "filters"):
            rule[key] = copy.deepcopy(value)
    # stable's pinned users are mirrored as before; requests sent to the canary are not copied to it
    filters = [copy.deepcopy(f) for f in managed.get("filters", []) if arm == STABLE or not _is_our_mirror(f, s)]
    if filters:
        rule["filters"] = filters
    canary = find_ref(managed, s.canary_service, s.namespace)
    if arm == STABLE:
        target = copy.deepcopy(stable)
    else:
        target = copy.deepcopy(canary) if canary is not None else ref_like(stable, s.canary_service)
    target["weight"] = 100
    rule["backendRefs"] = [target]
    if len(rule["matches"]) > MAX_MATCHES_PER_RULE:
        raise MeshError(
            f"the A/B rule would need {len(rule['matches'])} matches (the rule's matches times the cohort's), above "
            f"Gateway API's {MAX_MATCHES_PER_RULE}; use fewer cohort matches"
        )
    if len(rule["matches"]) != 1 and any(_replaces_prefix(f) for f in filters):
        raise MeshError(
            f"{label} rewrites with ReplacePrefixMatch, which Gateway API allows only with exactly one match; "
            "give the A/B test a single match"
        )
    return rule


def _replaces_prefix(item: object) -> bool:
    if not isinstance(item, dict):
        return False
    for key in ("urlRewrite", "requestRedirect"):
        path = item.get(key, {}).get("path") if isinstance(item.get(key), dict) else None
        if isinstance(path, dict) and path.get("type") == "ReplacePrefixMatch":
            return True
    return False


def _check_limits(rules: list[Obj], s: GatewayApiSettings) -> None:
    if len(rules) > MAX_RULES:
        raise MeshError(
            f"{s.what} would have {len(rules)} rules with meshroll's A/B rule, above Gateway API's {MAX_RULES}: "
            "merge some of its rules, or run the A/B test on another HTTPRoute"
        )
    total = sum(max(1, len(r.get("matches") or [])) for r in rules)
    if total > MAX_MATCHES:
        raise MeshError(
            f"{s.what} would have {total} matches in all with meshroll's A/B rule, above Gateway API's "
            f"{MAX_MATCHES}: use fewer cohort matches"
        )
