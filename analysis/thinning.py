"""Thinning a long series for a plot: keep what a reader can see, leave out what would be drawn over. Pure.

A plot is a few hundred pixels wide; twenty thousand points on it are mostly drawn on top of each
other. Keeping, in every pixel-wide slice of time, the points that reach lowest and highest draws
the same extent as all of them, at a size that no longer grows with the length of the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Values = Sequence[float | None]


def drawn(
    times: Sequence[float],
    lows: Sequence[Values],
    highs: Sequence[Values],
    *,
    t_max: float,
    buckets: int,
    keep: Iterable[int] = (),
) -> list[int]:
    """The indices worth drawing, in order: those in ``keep``, the first and the last, and in each of
    ``buckets`` equal slices of [0, ``t_max``] the lowest value of every series in ``lows`` and the
    highest of every series in ``highs`` (missing and non-finite values are passed over)."""
    count = len(times)
    if count == 0:
        return []
    chosen = {0, count - 1, *(i for i in keep if 0 <= i < count)}
    slices = [_slice(t, t_max, buckets) for t in times]
    for series, lower in [*((s, True) for s in lows), *((s, False) for s in highs)]:
        best: dict[int, tuple[float, int]] = {}
        for index, value in enumerate(series):
            if value is None or not math.isfinite(value):
                continue
            current = best.get(slices[index])
            if current is None or (value < current[0] if lower else value > current[0]):
                best[slices[index]] = (value, index)
        chosen.update(index for _, index in best.values())
    return sorted(chosen)


def _slice(t: float, t_max: float, buckets: int) -> int:
    if not math.isfinite(t) or t_max <= 0:
        return 0
    return min(buckets - 1, max(0, int(t / t_max * buckets)))


def listed(count: int, keep: Iterable[int], *, edge: int) -> list[int]:
    """The rows worth listing in a table of ``count``: those in ``keep`` and the first and last ``edge``."""
    head = range(min(edge, count))
    tail = range(max(0, count - edge), count)
    return sorted({*head, *tail, *(i for i in keep if 0 <= i < count)})


def gaps(indices: Sequence[int], count: int) -> list[tuple[int, int]]:
    """The runs of ``range(count)`` left out by the sorted ``indices``, as (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    previous = -1
    for index in [*indices, count]:
        if index > previous + 1:
            runs.append((previous + 1, index - 1))
        previous = index
    return runs
