"""Request matching shared by A/B routes and fault cohorts. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class MatchKind(StrEnum):
    EXACT = "exact"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True)
class StringMatch:
    kind: MatchKind
    value: str

    def matches(self, candidate: str | None) -> bool:
        if candidate is None:
            return False
        if self.kind is MatchKind.EXACT:
            return candidate == self.value
        if self.kind is MatchKind.PREFIX:
            return candidate.startswith(self.value)
        return re.fullmatch(self.value, candidate) is not None


@dataclass(frozen=True)
class RequestMatch:
    """All conditions must hold (AND). Header names are compared case-insensitively.

    A cookie match is a regex on the ``cookie`` header, as Istio and Gateway API express it;
    ``cookie_match`` builds one.
    """

    headers: tuple[tuple[str, StringMatch], ...] = ()
    query: tuple[tuple[str, StringMatch], ...] = ()

    def matches(self, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        lowered = {k.lower(): v for k, v in headers.items()}
        return all(m.matches(lowered.get(name.lower())) for name, m in self.headers) and all(
            m.matches(query.get(name)) for name, m in self.query
        )


def cookie_match(name: str, value: str) -> tuple[str, StringMatch]:
    """A header condition that holds when the request carries cookie ``name=value``."""
    pattern = rf"^(.*?;\s*)?({re.escape(name)}={re.escape(value)})(;.*)?$"
    return ("cookie", StringMatch(MatchKind.REGEX, pattern))


def matches_any(matches: tuple[RequestMatch, ...], headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """OR over matches, as Istio's ``match[]`` and Gateway API's ``matches[]``."""
    return any(m.matches(headers, query) for m in matches)
