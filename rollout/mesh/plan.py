"""The traffic plan: what the mesh should do for one experiment, whatever the provider. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from chaos.faults import Fault
from chaos.matching import RequestMatch, cookie_match


@dataclass(frozen=True)
class StickySession:
    """Session affinity for a canary run: the canary's weighted responses set a cookie, and requests
    carrying it go to the canary. ``value`` names the run, so a cookie of an earlier run is inert.

    With ``primary_cookie_name`` stable is pinned too: its weighted responses set that cookie (same
    value), and requests carrying it go to stable, so a user first served by stable stays there as
    the canary's weight grows."""

    cookie_name: str
    value: str
    max_age: int  # seconds
    primary_cookie_name: str | None = None

    def __post_init__(self) -> None:
        if self.primary_cookie_name == self.cookie_name:
            raise ValueError(f"the stable and canary cookies must differ, both are {self.cookie_name!r}")

    @property
    def set_cookie(self) -> str:
        """The ``Set-Cookie`` header value the canary's weighted responses carry."""
        return _set_cookie(self.cookie_name, self.value, self.max_age)

    @property
    def match(self) -> RequestMatch:
        """Requests carrying the cookie (a regex on the ``cookie`` header, as Istio and Gateway API match it)."""
        return RequestMatch(headers=(cookie_match(self.cookie_name, self.value),))

    @property
    def primary_set_cookie(self) -> str | None:
        """The ``Set-Cookie`` header value stable's weighted responses carry (None: stable is not pinned)."""
        if self.primary_cookie_name is None:
            return None
        return _set_cookie(self.primary_cookie_name, self.value, self.max_age)

    @property
    def primary_match(self) -> RequestMatch | None:
        """Requests carrying stable's cookie (None: stable is not pinned)."""
        if self.primary_cookie_name is None:
            return None
        return RequestMatch(headers=(cookie_match(self.primary_cookie_name, self.value),))


def _set_cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Max-Age={max_age}; Path=/"


@dataclass(frozen=True)
class TrafficPlan:
    """Weights between stable and canary (summing to 100), an optional A/B cohort routed wholly to
    the canary, optional mirroring of stable traffic to the canary, active faults, and optional session
    affinity (only while both arms get traffic: sticky users stay on the canary, and on stable too
    when it is pinned)."""

    stable_weight: int = 100
    canary_weight: int = 0
    ab_matches: tuple[RequestMatch, ...] = ()
    mirror_percent: float = 0.0
    faults: tuple[Fault, ...] = ()
    affinity: StickySession | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.canary_weight <= 100 and self.stable_weight + self.canary_weight == 100):
            raise ValueError(
                f"weights must be within 0..100 and sum to 100, got {self.stable_weight}/{self.canary_weight}"
            )
        if not 0.0 <= self.mirror_percent <= 100.0:
            raise ValueError(f"mirror percent must be within 0..100, got {self.mirror_percent}")
        if self.affinity is not None and not 0 < self.canary_weight < 100:
            raise ValueError(f"session affinity needs both arms weighted, got canary weight {self.canary_weight}")

    @classmethod
    def all_stable(cls) -> TrafficPlan:
        """The safe state: every request to stable, nothing mirrored, no faults."""
        return cls()

    @property
    def is_safe(self) -> bool:
        return (
            self.canary_weight == 0
            and not self.ab_matches
            and self.mirror_percent == 0
            and not self.faults
            and self.affinity is None
        )
