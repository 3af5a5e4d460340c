"""Comparison of expected and computed values, collecting readable mismatches."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from analysis.kayenta.oracle_fields import Fields


class Mismatches:
    """Collects ``"<what> expected <x>, got <y>"`` lines, and counts the comparisons made."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.compared = 0

    def near(self, what: str, expected: float, got: float, tolerance: float = 0.0) -> None:
        """``got`` equals ``expected`` (NaN matches NaN), within ``tolerance`` when one is given."""
        self.compared += 1
        if math.isnan(expected):
            ok = math.isnan(got)
        elif tolerance > 0:
            ok = abs(got - expected) <= tolerance
        else:
            ok = got == expected
        if not ok:
            within = f" (within {tolerance:g})" if tolerance > 0 else ""
            self.lines.append(f"{what} expected {expected!r}{within}, got {got!r}")

    def equal(self, what: str, expected: object, got: object) -> None:
        self.compared += 1
        if expected != got:
            self.lines.append(f"{what} expected {expected!r}, got {got!r}")

    def all_near(self, what: str, expected: Sequence[float], got: Sequence[float]) -> None:
        self.compared += 1
        if len(expected) != len(got):
            self.lines.append(f"{what} expected {len(expected)} values, got {len(got)}")
            return
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            self.near(f"{what}[{index}]", e, g)


def tolerance(fields: Fields, key: str) -> float:
    """An optional absolute tolerance (0 means exact)."""
    return fields.optional_number(key) or 0.0


@dataclass(frozen=True)
class KindCheck:
    """How one kind of case is checked, and the keys its ``expected`` object may hold."""

    run: Callable[[Fields], Mismatches]
    checks: tuple[str, ...]  # keys compared with what the port computes
    tolerances: tuple[str, ...] = ()  # keys that only widen a comparison

    def known_keys(self) -> tuple[str, ...]:
        return (*self.checks, *self.tolerances)
