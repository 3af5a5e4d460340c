"""Seeded synthetic canaries: healthy (A/A) ones and regressions, as per-step arm counts.

Pure: a scenario is a function of its class, its seed and the settings. Traffic is Poisson per
arm and step; errors are binomial; latency histograms are multinomial draws over the bins of the
arm's latency distribution (never per request, so 1000 req/s costs the same as 1 req/s).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analysis.bench.latency_model import FloatArray, LatencyModel, most_informative_edge
from analysis.bench.scenario import (
    ERRORS_METRIC,
    ISTIO_EDGES_MS,
    LATENCY_METRIC,
    EffectKind,
    MetricInfo,
    Scenario,
    TrueEffect,
)
from analysis.observations import ArmSample, MetricKind, MetricPair, StepWindow

AA_CLASSES: tuple[str, ...] = ("aa-independent", "aa-ar1", "aa-ar1-shared", "aa-diurnal")
REGRESSION_CLASSES: tuple[str, ...] = (
    "errors-x1.25",
    "errors-x1.5",
    "errors-x2",
    "errors-x5",
    "latency+5%",
    "latency+10%",
    "latency+25%",
    "tail-1%",
)
MID_SUFFIX = "-mid"
SMALLEST_ERROR_RATIO = 1.25
"""The smallest regression class's ratio: what the oracle SPRT is told on healthy canaries."""


class Noise(StrEnum):
    """How the arms' true rates move from step to step (beyond Poisson sampling)."""

    INDEPENDENT = "independent"  # constant rates: independent Poisson traffic only
    AR1 = "ar1"  # AR(1) noise on each arm's error rate and latency, independently per arm
    AR1_SHARED = "ar1-shared"  # one AR(1) series moves both arms together
    DIURNAL = "diurnal"  # a load curve; error rate and latency follow the load in both arms


@dataclass(frozen=True)
class ClassSpec:
    """A scenario class, parsed from its name (e.g. ``errors-x2``, ``latency+10%-mid``)."""

    name: str
    noise: Noise
    effect: EffectKind
    magnitude: float
    mid_onset: bool


@dataclass(frozen=True)
class GeneratorSettings:
    """Knobs of the synthetic canaries. Rates and ranges are drawn per scenario (log-uniform)."""

    step_seconds: float = 60.0
    max_steps: int = 30
    weights: tuple[float, ...] = (5.0, 10.0, 25.0, 50.0)
    steps_per_weight: int = 5
    rps_range: tuple[float, float] = (1.0, 1000.0)
    error_rate_range: tuple[float, float] = (0.0005, 0.005)
    latency_median_range_ms: tuple[float, float] = (20.0, 80.0)
    latency_sigma: float = 0.6
    ar_phi: float = 0.7
    # Stationary sds of the AR(1) noise on the log error rate and the log median latency: 2.5 times
    # below the smallest regression of each kind (x1.25 errors, +5% latency), so that a healthy
    # canary's drift stays distinguishable from the smallest regression the benchmark asks for.
    ar_error_sd: float = 0.1
    ar_latency_sd: float = 0.02
    diurnal_amplitude: float = 0.5
    diurnal_period_steps: float = 120.0  # a compressed day, so that 30 minutes see the curve move
    diurnal_error_elasticity: float = 1.0  # error rate ~ load^e
    diurnal_latency_elasticity: float = 0.3  # median latency ~ load^e
    mid_onset_step: int = 10
    tail_shift_ms: float = 1000.0
    regression_noise: Noise = Noise.INDEPENDENT
    start_time: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    edges_ms: tuple[float, ...] = ISTIO_EDGES_MS

    @property
    def final_step(self) -> int:
        """0-based index of the schedule's last step (the last weight's planned hold ends there)."""
        return min(self.max_steps, len(self.weights) * self.steps_per_weight) - 1

    def weight_at(self, step: int) -> float:
        return self.weights[min(step // self.steps_per_weight, len(self.weights) - 1)]


_ERRORS_RE = re.compile(r"^errors-x(?P<m>\d+(?:\.\d+)?)$")
_LATENCY_RE = re.compile(r"^latency\+(?P<m>\d+(?:\.\d+)?)%$")
_TAIL_RE = re.compile(r"^tail-(?P<m>\d+(?:\.\d+)?)%$")


def class_spec(name: str, settings: GeneratorSettings | None = None) -> ClassSpec:
    """Parse a class name; raises ValueError naming the accepted forms."""
    base = name.removesuffix(MID_SUFFIX)
    mid = base != name
    regression_noise = (settings or GeneratorSettings()).regression_noise
    if base.startswith("aa-") and not mid:
        try:
            noise = Noise(base.removeprefix("aa-"))
        except ValueError:
            pass
        else:
            return ClassSpec(name, noise, EffectKind.NONE, 0.0, False)
    for pattern, kind, scale in (
        (_ERRORS_RE, EffectKind.ERRORS, 1.0),
        (_LATENCY_RE, EffectKind.LATENCY, 0.01),
        (_TAIL_RE, EffectKind.TAIL, 0.01),
    ):
        match = pattern.match(base)
        if match:
            return ClassSpec(name, regression_noise, kind, float(match["m"]) * scale, mid)
    raise ValueError(
        f"unknown scenario class {name!r}: use aa-{{independent,ar1,ar1-shared,diurnal}}, errors-xR, "
        f"latency+P%, tail-P% (regressions may end in {MID_SUFFIX!r} for a mid-run onset)"
    )


def ar1_series(rng: np.random.Generator, n: int, phi: float, sd: float) -> FloatArray:
    """A stationary AR(1) series with lag-1 correlation ``phi`` and marginal sd ``sd``."""
    out = np.zeros(n)
    if sd <= 0.0 or n == 0:
        return out
    innovations = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), size=n)
    out[0] = rng.normal(0.0, sd)
    for k in range(1, n):
        out[k] = phi * out[k - 1] + innovations[k]
    return out


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


@dataclass(frozen=True)
class _Base:
    rps: float
    error_rate: float
    median_ms: float


@dataclass(frozen=True)
class _ArmNoise:
    error: FloatArray  # log-multiplier of the error rate per step
    latency: FloatArray  # log-multiplier of the median latency per step


def _noises(rng: np.random.Generator, noise: Noise, s: GeneratorSettings) -> tuple[_ArmNoise, _ArmNoise]:
    n = s.max_steps
    if noise is Noise.AR1:
        return tuple(  # type: ignore[return-value]
            _ArmNoise(ar1_series(rng, n, s.ar_phi, s.ar_error_sd), ar1_series(rng, n, s.ar_phi, s.ar_latency_sd))
            for _ in range(2)
        )
    if noise is Noise.AR1_SHARED:
        shared = _ArmNoise(ar1_series(rng, n, s.ar_phi, s.ar_error_sd), ar1_series(rng, n, s.ar_phi, s.ar_latency_sd))
        return shared, shared
    quiet = _ArmNoise(np.zeros(n), np.zeros(n))
    return quiet, quiet


def _load_curve(rng: np.random.Generator, noise: Noise, s: GeneratorSettings) -> FloatArray:
    steps = np.arange(s.max_steps, dtype=np.float64) + 0.5
    if noise is not Noise.DIURNAL:
        return np.ones(s.max_steps)
    phase = rng.uniform(0.0, s.diurnal_period_steps)
    curve: FloatArray = 1.0 + s.diurnal_amplitude * np.sin(2.0 * math.pi * (steps + phase) / s.diurnal_period_steps)
    return curve


def _true_effect(spec: ClassSpec, base: _Base, s: GeneratorSettings) -> TrueEffect:
    onset = s.mid_onset_step if spec.mid_onset else 0
    if spec.effect is EffectKind.NONE:
        return TrueEffect(EffectKind.NONE, ERRORS_METRIC, 1.0, 0.0, None, 0)
    if spec.effect is EffectKind.ERRORS:
        return TrueEffect(EffectKind.ERRORS, ERRORS_METRIC, spec.magnitude, spec.magnitude, None, onset)
    stable = LatencyModel(base.median_ms, s.latency_sigma)
    canary = _canary_latency(stable, spec.effect, spec.magnitude, s)
    finite = [e for e in s.edges_ms if math.isfinite(e)]
    edge, ratio = most_informative_edge(stable, canary, finite)
    return TrueEffect(spec.effect, LATENCY_METRIC, ratio, spec.magnitude, edge, onset)


def _canary_latency(stable: LatencyModel, kind: EffectKind, magnitude: float, s: GeneratorSettings) -> LatencyModel:
    if kind is EffectKind.LATENCY:
        return LatencyModel(stable.median_ms * (1.0 + magnitude), stable.sigma)
    if kind is EffectKind.TAIL:
        return LatencyModel(stable.median_ms, stable.sigma, magnitude, s.tail_shift_ms)
    return stable


def _arm_sample(
    rng: np.random.Generator,
    expected_requests: float,
    error_rate: float,
    latency: LatencyModel,
    edges: Sequence[float],
) -> tuple[ArmSample, ArmSample]:
    requests = int(rng.poisson(max(0.0, expected_requests)))
    errors = int(rng.binomial(requests, min(1.0, max(0.0, error_rate))))
    counts = rng.multinomial(requests, latency.bin_probabilities(edges))
    cumulative = np.cumsum(counts)
    buckets = tuple((float(e), float(c)) for e, c in zip(edges, cumulative[:-1], strict=True))
    buckets += ((math.inf, float(requests)),)
    return (
        ArmSample(requests=float(requests), errors=float(errors)),
        ArmSample(requests=float(requests), buckets=buckets),
    )


def generate(
    scenario_class: str,
    seed: int | Sequence[int],
    settings: GeneratorSettings | None = None,
    name: str | None = None,
) -> Scenario:
    """Generate one scenario of ``scenario_class``; the same seed always gives the same scenario."""
    s = settings or GeneratorSettings()
    spec = class_spec(scenario_class, s)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    base = _Base(
        rps=_log_uniform(rng, s.rps_range),
        error_rate=_log_uniform(rng, s.error_rate_range),
        median_ms=_log_uniform(rng, s.latency_median_range_ms),
    )
    effect = _true_effect(spec, base, s)
    stable_noise, canary_noise = _noises(rng, spec.noise, s)
    load = _load_curve(rng, spec.noise, s)
    diurnal = spec.noise is Noise.DIURNAL
    edges = [e for e in s.edges_ms if math.isfinite(e)]
    steps: list[StepWindow] = []
    for k in range(s.max_steps):
        weight = s.weight_at(k)
        active = effect.is_regression and k >= effect.onset_step
        error_scale = load[k] ** s.diurnal_error_elasticity if diurnal else 1.0
        latency_scale = load[k] ** s.diurnal_latency_elasticity if diurnal else 1.0
        arms: dict[str, tuple[ArmSample, ArmSample]] = {}
        for arm, share, noise in (
            ("stable", 1.0 - weight / 100.0, stable_noise),
            ("canary", weight / 100.0, canary_noise),
        ):
            error_rate = base.error_rate * error_scale * math.exp(noise.error[k])
            latency = LatencyModel(base.median_ms * latency_scale * math.exp(noise.latency[k]), s.latency_sigma)
            if arm == "canary" and active:
                if spec.effect is EffectKind.ERRORS:
                    error_rate *= spec.magnitude
                latency = _canary_latency(latency, spec.effect, spec.magnitude, s)
            expected = base.rps * load[k] * share * s.step_seconds
            arms[arm] = _arm_sample(rng, expected, error_rate, latency, edges)
        start = s.start_time + k * s.step_seconds
        steps.append(
            StepWindow(
                index=k,
                start=start,
                end=start + s.step_seconds,
                canary_weight=weight,
                metrics={
                    ERRORS_METRIC: MetricPair(stable=arms["stable"][0], canary=arms["canary"][0]),
                    LATENCY_METRIC: MetricPair(stable=arms["stable"][1], canary=arms["canary"][1]),
                },
            )
        )
    return Scenario(
        name=name or f"{scenario_class}-{_seed_label(seed)}",
        scenario_class=scenario_class,
        effect=effect,
        metrics=(
            MetricInfo(ERRORS_METRIC, MetricKind.ERRORS),
            MetricInfo(LATENCY_METRIC, MetricKind.LATENCY),
        ),
        steps=tuple(steps),
        final_step=s.final_step,
    )


def _seed_label(seed: int | Sequence[int]) -> str:
    return str(seed) if isinstance(seed, int) else "-".join(str(x) for x in seed)
