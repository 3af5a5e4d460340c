"""Synthetic steps for simulations and for timing one decision (seeded; no clock, no I/O).

Requests per step are Poisson; each is routed to the canary with the step's weight (times an odds
factor when a sample-ratio mismatch is simulated); errors are Binomial per arm; latencies are
lognormal, binned on Istio's default millisecond buckets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from analysis.observations import ArmSample, EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow

ISTIO_EDGES_MS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
    10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip


@dataclass(frozen=True)
class Arms:
    """How the two arms behave in the simulation."""

    error_rate: float = 0.01  # the stable's
    error_ratio: float = 1.0  # canary/stable error-rate ratio
    latency_median_ms: float = 100.0
    latency_sigma: float = 0.5
    latency_factor: float = 1.0  # the canary's latencies are this many times the stable's
    split_odds: float = 1.0  # > 1: the canary gets more than its weight (sample-ratio mismatch)
    gauge_mean: float = 50.0
    gauge_sd: float = 5.0
    gauge_shift: float = 0.0  # added to the canary's gauge samples


def _histogram(rng: np.random.Generator, n: int, median: float, sigma: float) -> tuple[tuple[float, float], ...]:
    edges = np.array(ISTIO_EDGES_MS)
    cdf = ndtr((np.log(edges) - np.log(median)) / sigma)
    probabilities = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    counts = np.cumsum(rng.multinomial(n, probabilities / probabilities.sum()))
    return tuple(zip([*ISTIO_EDGES_MS, float("inf")], (float(c) for c in counts), strict=True))


def simulate_steps(
    rng: np.random.Generator,
    weights: Sequence[float],
    rps: float,
    step_seconds: float = 60.0,
    arms: Arms = Arms(),
    kinds: Sequence[tuple[str, MetricKind]] = (("errors", MetricKind.ERRORS),),
    onset: int = 0,
) -> tuple[StepWindow, ...]:
    """One run: a step per weight (percent). The canary's effect starts at step ``onset``."""
    windows = []
    for t, weight in enumerate(weights):
        effect = t >= onset
        total = int(rng.poisson(rps * step_seconds))
        w = weight / 100.0
        odds = arms.split_odds
        share = w * odds / (w * odds + 1.0 - w) if 0 < w < 1 else w
        canary_n = int(rng.binomial(total, share))
        stable_n = total - canary_n
        metrics = {}
        for name, kind in kinds:
            samples = []
            for n, is_canary in ((stable_n, False), (canary_n, True)):
                if kind is MetricKind.ERRORS:
                    rate = arms.error_rate * (arms.error_ratio if is_canary and effect else 1.0)
                    samples.append(ArmSample(requests=float(n), errors=float(rng.binomial(n, min(rate, 1.0)))))
                elif kind is MetricKind.LATENCY:
                    factor = arms.latency_factor if is_canary and effect else 1.0
                    buckets = _histogram(rng, n, arms.latency_median_ms * factor, arms.latency_sigma)
                    samples.append(ArmSample(requests=float(n), buckets=buckets))
                else:
                    shift = arms.gauge_shift if is_canary and effect else 0.0
                    values = rng.normal(arms.gauge_mean + shift, arms.gauge_sd, size=6)
                    samples.append(ArmSample(requests=float(n), gauges=tuple(float(v) for v in values)))
            metrics[name] = MetricPair(stable=samples[0], canary=samples[1])
        start = t * step_seconds
        windows.append(StepWindow(t, start, start + step_seconds, float(weight), metrics))
    return tuple(windows)


def decision_workload(metrics: int = 20, steps: int = 60, seed: int = 0) -> tuple[tuple[StepWindow, ...], EngineConfig]:
    """A large A/A experiment to time one decision: half error metrics, half latency histograms."""
    rng = np.random.default_rng(seed)
    kinds = [
        (
            f"{'errors' if i % 2 == 0 else 'latency'}-{i}",
            MetricKind.ERRORS if i % 2 == 0 else MetricKind.LATENCY,
        )
        for i in range(metrics)
    ]
    windows = simulate_steps(rng, [10.0] * steps, rps=100.0, kinds=kinds)
    specs = tuple(MetricSpec(name, kind, margin=0.1, critical=i == 0) for i, (name, kind) in enumerate(kinds))
    return windows, EngineConfig(metrics=specs)
