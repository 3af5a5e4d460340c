"""A generator that draws what ``java.util.Random`` draws for a seed.

Kayenta's noise (the jitter of constant arms, ``addGaussianNoise``, ``RandomUtils.normal``) comes
from ``java.util.Random``; this reimplements the generator from its published specification (a
48-bit linear congruential generator and the polar method) so seeded runs are reproducible.
Integers and uniform doubles are bit-identical; a Gaussian may differ in its last bit, since
``math.log`` is not Java's ``StrictMath.log``.
"""

from __future__ import annotations

import math
from typing import Protocol

_MULTIPLIER = 0x5DEECE66D
_ADDEND = 0xB
_MASK = (1 << 48) - 1
_DOUBLE_UNIT = 2.0**-53


class GaussianSource(Protocol):
    """Anything that yields standard normal draws one at a time."""

    def next_gaussian(self) -> float: ...


def _to_int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class JavaRandom:
    """``java.util.Random`` with the same seed gives the same sequence."""

    def __init__(self, seed: int) -> None:
        self._seed = (seed ^ _MULTIPLIER) & _MASK
        self._next_gaussian: float | None = None

    def _next(self, bits: int) -> int:
        self._seed = (self._seed * _MULTIPLIER + _ADDEND) & _MASK
        return _to_int32(self._seed >> (48 - bits))

    def next_int(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)``."""
        if bound <= 0:
            raise ValueError(f"bound must be positive, got {bound}")
        if bound & -bound == bound:
            return (bound * self._next(31)) >> 31
        while True:
            bits = self._next(31)
            value = bits % bound
            if bits - value + (bound - 1) < 1 << 31:
                return value

    def next_double(self) -> float:
        """A uniform double in ``[0, 1)`` with 53 random bits."""
        return ((self._next(26) << 27) + self._next(27)) * _DOUBLE_UNIT

    def next_gaussian(self) -> float:
        """A standard normal draw (Marsaglia's polar method, two draws per accepted pair)."""
        if self._next_gaussian is not None:
            value, self._next_gaussian = self._next_gaussian, None
            return value
        while True:
            v1 = 2.0 * self.next_double() - 1.0
            v2 = 2.0 * self.next_double() - 1.0
            s = v1 * v1 + v2 * v2
            if 0.0 < s < 1.0:
                break
        multiplier = math.sqrt(-2.0 * math.log(s) / s)
        self._next_gaussian = v2 * multiplier
        return v1 * multiplier


def normal_samples(source: GaussianSource, mean: float, stdev: float, count: int) -> list[float]:
    """``count`` draws of Normal(mean, stdev); exactly ``mean`` when ``stdev`` is 0."""
    if stdev == 0.0:
        return [mean] * count
    return [mean + stdev * source.next_gaussian() for _ in range(count)]
