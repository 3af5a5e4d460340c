"""Argo Rollouts' ``setHeaderRoute`` steps: their matches, and whether they amount to a canary's cohort.

Argo adds a header route (named in ``trafficRouting.managedRoutes``) that sends its matches wholly to
the canary; ``setWeight`` keeps weighting the other requests, and a ``setHeaderRoute`` with the same
name and no match removes the route. That is meshroll's ``strategy.canary.cohort`` when one header
route, with one match, is on at every weighted pause and at no unweighted one. Anything else (a route
changed between steps, several routes, a header-only phase before the weights) is not translated so.
"""

from __future__ import annotations

from typing import Any

from rollout.importers.documents import DocPath, PeerDocument
from rollout.importers.draft import Draft


def header_match(draft: Draft, document: PeerDocument, path: DocPath, matches: Any) -> list[dict[str, Any]]:
    """A ``setHeaderRoute``'s match list as meshroll matches (one entry each: Argo's entries are alternatives)."""
    cohorts: list[dict[str, Any]] = []
    for j, entry in enumerate(matches if isinstance(matches, list) else []):
        header = entry.get("headerName") if isinstance(entry, dict) else None
        value = entry.get("headerValue") if isinstance(entry, dict) else None
        kind = next((k for k in ("exact", "prefix", "regex") if isinstance(value, dict) and k in value), None)
        if header is None or kind is None or not isinstance(value, dict):
            draft.skip(document, (*path, "match", j), "meshroll needs headerName and headerValue exact/prefix/regex")
            continue
        cohorts.append({"headers": {str(header): {kind: str(value[kind])}}})
    return cohorts


def steady_header_route(steps: Any) -> int | None:
    """The index of the ``setHeaderRoute`` step whose route is on across the weighted steps, or None.

    Observations are the pauses (where Argo's analysis and meshroll's judgements happen): the route
    must be on at every pause with a canary weight, off at every pause without one, and set once with
    one match (removing it after the last weighted pause is what promotion does anyway)."""
    weight = 0
    set_at: dict[str, tuple[int, Any]] = {}  # route name -> (step index, match) of the step that set it
    active: set[str] = set()
    observed: list[tuple[int, frozenset[str]]] = []
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict) or len(step) != 1:
            continue
        key, body = next(iter(step.items()))
        if key == "setWeight" and isinstance(body, int) and not isinstance(body, bool):
            weight = body
        elif key == "pause":
            observed.append((weight, frozenset(active)))
        elif key == "setHeaderRoute" and isinstance(body, dict):
            name, match = str(body.get("name")), body.get("match")
            if not match:
                active.discard(name)
                continue
            if name in set_at and set_at[name][1] != match:
                return None  # the cohort changes between steps: meshroll's stays the same
            set_at.setdefault(name, (i, match))
            active.add(name)
    if len(set_at) != 1 or not any(w > 0 for w, _ in observed):
        return None
    ((name, (index, _)),) = set_at.items()
    return index if all((w > 0) == (name in on) for w, on in observed) else None


_ANY_PATH = ({"prefix": "/"}, {"regex": ".*"}, {"regex": "/.*"}, {"regex": "^/.*"})


def mirrors_every_request(matches: Any) -> bool:
    """Whether a ``setMirrorRoute``'s match list takes every request (its entries are alternatives): an entry
    with no method and no headers, on any path. Then meshroll's mirror of all requests is no wider."""
    return isinstance(matches, list) and any(isinstance(entry, dict) and _open(entry) for entry in matches)


def _open(entry: dict[str, Any]) -> bool:
    for key, value in entry.items():
        if value in (None, {}, []) or (key == "path" and value in _ANY_PATH):
            continue
        return False
    return True


def dropped_mirror(percentage: float) -> str:
    """Why a mirror limited to a match is left out, and what to do instead."""
    return (
        "Argo mirrors only the requests this match takes; meshroll mirrors a share of all requests and cannot limit "
        "it to a match, and mirroring every request would copy non-idempotent ones (POST, PUT, DELETE) to the "
        "canary too, duplicating their side effects (writes, payments, emails), so this mirror was left out: add "
        f"strategy.mirror {{percent: {percentage:g}}} by hand only if every request to this service is safe to "
        "repeat"
    )


MIRROR_KEPT_ON = (
    "turns the mirror off before the Rollout ends; meshroll's strategy.mirror stays on for the whole run, so the "
    "canary keeps getting copies of requests through the later steps too"
)
