"""Flagger's ``analysis.sessionAffinity`` as ``strategy.canary.sessionAffinity``: the cookie names meshroll can set,
the cookie's age, and what is said of the rest."""

from __future__ import annotations

import re
from typing import Any

from rollout.importers.common import whole_number
from rollout.importers.documents import PeerDocument, show_value
from rollout.importers.draft import Draft
from rollout.spec.durations import format_duration
from rollout.spec.traffic import (
    COOKIE_NAME_PATTERN,
    MAX_COOKIE_AGE_DAYS,
    check_cookie_name,
    check_primary_cookie_name,
)

AFFINITY_DEFAULT_AGE = 86400  # Flagger's sessionAffinity.maxAge default (seconds)
AFFINITY_ATTRIBUTES = "meshroll's route sets the cookie, with Path=/ and Max-Age only"


def session_affinity(draft: Draft, document: PeerDocument) -> None:
    """``analysis.sessionAffinity`` (cookieName, maxAge in seconds, primaryCookieName) as
    ``strategy.canary.sessionAffinity``."""
    a = ("spec", "analysis", "sessionAffinity")
    given = document.get(*a)
    if not isinstance(given, dict):
        return
    canary = draft.strategy.get("canary")
    if canary is None or draft.mesh.get("provider") == "smi":
        why = "meshroll keeps sessions sticky only in a weighted canary on istio or gateway-api"
        draft.skip(document, a, f"{why}; this Canary imports as {'SMI' if canary else 'no weighted canary'}")
        return
    affinity: dict[str, Any] = {}
    name = document.get(*a, "cookieName")
    if isinstance(name, str) and re.fullmatch(COOKIE_NAME_PATTERN, name):
        try:  # a __Host- or __Secure- name, or an overlong one, is a token meshroll's cookie cannot use
            affinity["cookieName"] = check_cookie_name(name)
        except ValueError as exc:
            draft.skip(document, (*a, "cookieName"), f"{exc}; meshroll-canary used")
    elif name is not None:
        why = "is not an RFC 6265 cookie name; meshroll-canary used"
        draft.skip(document, (*a, "cookieName"), f"{show_value(name)} {why}")
    seconds = "maxAge, a number of seconds (up to 400 days)"
    age = whole_number(document, (*a, "maxAge"), 1, MAX_COOKIE_AGE_DAYS * 86400, seconds)
    affinity["maxAge"] = format_duration(AFFINITY_DEFAULT_AGE if age is None else age)
    _primary_cookie_name(draft, document, affinity)
    for other in sorted(set(given) - {"cookieName", "maxAge", "primaryCookieName"}):
        draft.skip(
            document,
            (*a, other),
            f"{AFFINITY_ATTRIBUTES}: your application cannot add {other} to it, so sticky users get the cookie "
            f"without it; if the cookie must have {other}, leave sessionAffinity out of the Experiment",
        )
    canary["sessionAffinity"] = affinity
    cookie = affinity.get("cookieName", "meshroll-canary")
    pinned = affinity.get("primaryCookieName")
    draft.choose(
        "strategy.canary.sessionAffinity: analysis.sessionAffinity; users the weights send to the canary get "
        f"the cookie {cookie} and stay on the canary until the run ends"
        + (f", and those they send to stable get {pinned} and stay on stable" if pinned else "")
    )


def _primary_cookie_name(draft: Draft, document: PeerDocument, affinity: dict[str, Any]) -> None:
    """Flagger's ``primaryCookieName`` (stable's users pinned too) as meshroll's, when it is one meshroll can set."""
    where = ("spec", "analysis", "sessionAffinity", "primaryCookieName")
    name = document.get(*where)
    if name is None:
        return
    unpinned = "stable's users follow the weights"
    if not (isinstance(name, str) and re.fullmatch(COOKIE_NAME_PATTERN, name)):
        draft.skip(document, where, f"{show_value(name)} is not an RFC 6265 cookie name; {unpinned}")
        return
    try:
        check_primary_cookie_name(name)
    except ValueError as exc:
        draft.skip(document, where, f"{exc}; {unpinned}")
        return
    if name == affinity.get("cookieName", "meshroll-canary"):
        draft.skip(
            document, where, f"it is also the canary's cookie name, so one cookie would pin both arms; {unpinned}"
        )
        return
    affinity["primaryCookieName"] = name
