"""Brent's root finder exactly as Kayenta runs it (R's ``zeroin``).

The absolute tolerance of 1e-4 and every branch are kept: the Mann-Whitney function is a step
function with heavy ties, so the iterates, and therefore the answer, depend on each detail.
``scipy.optimize.brentq`` is not a substitute.
"""

from __future__ import annotations

from collections.abc import Callable

TOLERANCE = 1e-4
EPSILON = 2.220446049250313e-16
MAX_ITERATIONS = 1001
_SMALLEST_DOUBLE = 5e-324


def _is_zero(value: float) -> bool:
    """commons-math ``Precision.equals(value, 0)``: within one ulp of zero."""
    return abs(value) <= _SMALLEST_DOUBLE


def _interpolated_step(a: float, b: float, c: float, fa: float, fb: float, fc: float) -> tuple[float, float]:
    """The secant (a == c) or inverse quadratic step as ``p / q``, with ``p >= 0``."""
    cb = c - b
    if a == c:
        t1 = fb / fa
        p = cb * t1
        q = 1.0 - t1
    else:
        q = fa / fc
        t1 = fb / fc
        t2 = fb / fa
        p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
        q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
    if p > 0:
        q = -q
    else:
        p = -p
    return p, q


def brent_solve(a: float, b: float, fa: float, fb: float, f: Callable[[float], float]) -> float:
    """A root of ``f`` in ``[a, b]`` given ``fa = f(a)`` and ``fb = f(b)`` (no sign check)."""
    c, fc = a, fa
    if _is_zero(fa):
        return a
    if _is_zero(fb):
        return b
    for _ in range(MAX_ITERATIONS):
        previous_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * EPSILON * abs(b) + TOLERANCE / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol or fb == 0:
            return b
        if abs(previous_step) >= tol and abs(fa) > abs(fb):
            p, q = _interpolated_step(a, b, c, fa, fb, fc)
            if p < 0.75 * (c - b) * q - abs(tol * q) / 2.0 and p < abs(previous_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol:
            new_step = tol if new_step > 0 else -tol
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b
