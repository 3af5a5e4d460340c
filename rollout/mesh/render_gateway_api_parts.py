"""Pieces of an HTTPRoute that meshroll writes: backendRefs to a Service, and cohort matches. Pure.

A backendRef names a Service (the default kind, in the core group, in the route's namespace unless
it says otherwise); one meshroll adds reads like the stable's (same group, kind, namespace, port).
Gateway API headers and query parameters match ``Exact`` or ``RegularExpression`` only, once per name
in a match: a cohort's prefix match is written as the regular expression ``^<escaped prefix>.*``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from chaos.matching import MatchKind, RequestMatch, StringMatch
from rollout.mesh.errors import MeshError

Obj = dict[str, Any]

_REGEX_SPECIALS = set("\\.^$|?*+()[]{}")


def is_service_ref(ref: object, service: str, namespace: str) -> bool:
    """Whether ``ref`` (a backendRef, or a mirror's) names ``service`` in ``namespace``."""
    return (
        isinstance(ref, dict)
        and ref.get("name") == service
        and ref.get("kind", "Service") == "Service"
        and ref.get("group", "") in ("", "core")
        and ref.get("namespace", namespace) == namespace
    )


def find_ref(rule: Mapping[str, Any], service: str, namespace: str) -> Obj | None:
    """The rule's backendRef to ``service`` (None: it has none)."""
    refs = rule.get("backendRefs")
    for ref in refs if isinstance(refs, list) else []:
        if is_service_ref(ref, service, namespace):
            return ref  # type: ignore[no-any-return]
    return None


def ref_like(ref: Mapping[str, Any], service: str) -> Obj:
    """A backendRef to ``service`` that reads like ``ref`` (same group, kind, namespace and port)."""
    result: Obj = {key: copy.deepcopy(ref[key]) for key in ("group", "kind") if key in ref}
    result["name"] = service
    result.update({key: copy.deepcopy(ref[key]) for key in ("namespace", "port") if key in ref})
    result["weight"] = 0
    return result


def _escape(text: str) -> str:
    return "".join(f"\\{c}" if c in _REGEX_SPECIALS else c for c in text)


def _condition(name: str, match: StringMatch) -> Obj:
    if match.kind is MatchKind.EXACT and match.value:
        return {"type": "Exact", "name": name, "value": match.value}
    if match.kind is MatchKind.EXACT:
        return {"type": "RegularExpression", "name": name, "value": "^$"}
    if match.kind is MatchKind.PREFIX:
        return {"type": "RegularExpression", "name": name, "value": f"^{_escape(match.value)}.*"}
    return {"type": "RegularExpression", "name": name, "value": match.value}


def _merge(entry: Obj, section: str, conditions: Sequence[tuple[str, StringMatch]], fold: bool, label: str) -> None:
    def key(name: object) -> object:
        return name.lower() if fold and isinstance(name, str) else name

    existing: list[Any] = entry.setdefault(section, [])
    for name, match in conditions:
        condition = _condition(name, match)
        same = [c for c in existing if isinstance(c, dict) and key(c.get("name")) == key(name)]
        if same and any(_normal(c) != _normal(condition) for c in same):
            raise MeshError(
                f"the cohort tests {name!r}, which {label} already tests (or the cohort tests twice), and "
                "Gateway API tests each name once per match: change the cohort, or split it into separate matches"
            )
        if not same:
            existing.append(condition)


def _normal(condition: Mapping[str, Any]) -> tuple[object, object]:
    return (condition.get("type", "Exact"), condition.get("value"))


def ab_matches(route_matches: object, cohort: Sequence[RequestMatch], label: str) -> list[Obj]:
    """The managed rule's matches ANDed with the cohort (each rule match times each cohort entry)."""
    bases = [m for m in route_matches if isinstance(m, dict)] if isinstance(route_matches, list) else []
    result = []
    for base in bases or [{}]:
        for match in cohort:
            entry = copy.deepcopy(base)
            _merge(entry, "headers", match.headers, True, label)
            _merge(entry, "queryParams", match.query, False, label)
            for section in ("headers", "queryParams"):
                if not entry[section]:
                    del entry[section]
            result.append(entry)
    return result
