"""The fault model: delays and aborts on an arm, optionally for a cohort. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chaos.matching import RequestMatch

OWNER_LABEL = "meshroll.io/owner"
"""The ownership mark every injected fault carries: the owning experiment's ``namespace/name``."""

FAULT_ROUTE_PREFIX = "meshroll-fault-"
"""Name prefix of the route entries meshroll adds to carry faults (Istio ``http[].name``)."""


class Arm(StrEnum):
    STABLE = "stable"
    CANARY = "canary"
    BOTH = "both"

    def covers(self, version_arm: str) -> bool:
        return self is Arm.BOTH or self.value == version_arm


@dataclass(frozen=True)
class Delay:
    fixed_ms: float
    percent: float


@dataclass(frozen=True)
class Abort:
    percent: float
    http_status: int | None = None
    grpc_status: str | None = None  # e.g. "UNAVAILABLE", as Istio spells it


@dataclass(frozen=True)
class Fault:
    """One active fault. ``id`` is stable across restarts (experiment, index) for journals and sweeps."""

    id: str
    owner: str  # namespace/name of the experiment that owns it
    arm: Arm
    delay: Delay | None = None
    abort: Abort | None = None
    cohort: tuple[RequestMatch, ...] = ()  # empty: every request on the arm
