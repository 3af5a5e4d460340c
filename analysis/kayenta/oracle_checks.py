"""Comparison of expected and computed values, collecting readable mismatches."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from analysis.kayenta.oracle_fields import Fields

CaseCheck = Callable[[Fields], list[str]]


class Mismatches:
    """Collects ``"<what> expected <x>, got <y>"`` lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def near(self, what: str, expected: float, got: float, tolerance: float = 0.0) -> None:
        """``got`` equals ``expected`` (NaN matches NaN), within ``tolerance`` when one is given."""
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
        if expected != got:
            self.lines.append(f"{what} expected {expected!r}, got {got!r}")

    def all_near(self, what: str, expected: Sequence[float], got: Sequence[float]) -> None:
        if len(expected) != len(got):
            self.lines.append(f"{what} expected {len(expected)} values, got {len(got)}")
            return
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            self.near(f"{what}[{index}]", e, g)


def tolerance(fields: Fields, key: str) -> float:
    """An optional absolute tolerance (0 means exact)."""
    return fields.optional_number(key) or 0.0
