"""The synthetic latency distribution: a lognormal, optionally with a slow tail, binned on edges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LatencyModel:
    """Lognormal request durations (median ``median_ms``, log-sd ``sigma``); a fraction
    ``tail_fraction`` of requests takes ``tail_shift_ms`` longer."""

    median_ms: float
    sigma: float
    tail_fraction: float = 0.0
    tail_shift_ms: float = 1000.0

    def cdf(self, edges: Sequence[float] | FloatArray) -> FloatArray:
        x = np.asarray(edges, dtype=np.float64)
        body = _lognormal_cdf(x, self.median_ms, self.sigma)
        if self.tail_fraction <= 0.0:
            return body
        slow = _lognormal_cdf(x - self.tail_shift_ms, self.median_ms, self.sigma)
        result: FloatArray = (1.0 - self.tail_fraction) * body + self.tail_fraction * slow
        return result

    def survival(self, edge: float) -> float:
        """P(T > edge), computed from the upper tail so that tiny probabilities keep their precision."""
        body = _lognormal_sf(edge, self.median_ms, self.sigma)
        if self.tail_fraction <= 0.0:
            return body
        slow = _lognormal_sf(edge - self.tail_shift_ms, self.median_ms, self.sigma)
        return (1.0 - self.tail_fraction) * body + self.tail_fraction * slow

    def bin_probabilities(self, edges: Sequence[float]) -> FloatArray:
        """Probabilities of the bins ``(-inf, e0], (e0, e1], ..., (e_last, +inf)``."""
        cumulative = np.concatenate([self.cdf(edges), [1.0]])
        probs = np.diff(cumulative, prepend=0.0)
        probs = np.clip(probs, 0.0, None)
        total = float(probs.sum())
        normalised: FloatArray = probs / total
        return normalised


def _lognormal_cdf(x: FloatArray, median_ms: float, sigma: float) -> FloatArray:
    out = np.zeros_like(x)
    positive = x > 0
    z = (np.log(x[positive]) - np.log(median_ms)) / sigma
    out[positive] = ndtr(z)
    return out


def _lognormal_sf(x: float, median_ms: float, sigma: float) -> float:
    if x <= 0.0:
        return 1.0
    return float(ndtr((np.log(median_ms) - np.log(x)) / sigma))


def most_informative_edge(stable: LatencyModel, canary: LatencyModel, edges: Sequence[float]) -> tuple[float, float]:
    """The edge whose exceedances separate the arms best, and the canary/stable exceedance ratio there.

    Best means the largest chi-square divergence per request, (S_c - S_b)^2 / S_b, with S the
    survival function; only edges where the canary is slower count.
    """
    best_edge, best_ratio, best_score = edges[0], 1.0, -1.0
    for edge in edges:
        s_b = stable.survival(edge)
        s_c = canary.survival(edge)
        if s_b <= 0.0 or s_c <= s_b:
            continue
        score = (s_c - s_b) ** 2 / s_b
        if score > best_score:
            best_edge, best_ratio, best_score = edge, s_c / s_b, score
    return best_edge, best_ratio
