"""Engine variants for the Pareto sweep: one engine family at another sensitivity.

A variant is written ``family@knob=value`` (``sequential@alpha=0.05``, ``naive@alpha=1e-4``,
``kayenta@every=10``, ``threshold@failures=2``). Each family has one knob that trades false
rollbacks for speed, so a family's variants trace its curve of false rollbacks against time to
detect; engines are then compared at matched false-rollback rates, not only at their defaults.
``sequential@absolute=0.001`` is the product's ``absoluteMargin`` on the error metric (0.1
points) and ``sequential@latency-absolute=0.01`` on the latency metric (1 point of requests slower
than each promotion edge): they change promotions only (how many healthy canaries promote, and how
many regressions within that margin are promoted), not rollbacks.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import cast

from analysis.bench.baselines import NaiveJudge
from analysis.observations import EngineConfig, MetricKind, StepWindow
from analysis.verdicts import Decision, Judge

SWEEP: tuple[str, ...] = (
    "sequential@alpha=0.001",
    "sequential@alpha=0.05",
    "sequential@alpha=0.2",
    "sequential@absolute=0.001",
    "sequential@latency-absolute=0.01",
    "naive@alpha=1e-5",
    "naive@alpha=1e-4",
    "naive@alpha=0.001",
    "kayenta@every=10",
    "threshold@failures=2",
    "threshold@failures=10",
)
"""What ``--sweep`` adds to the default engines (``kayenta-1m`` is kayenta at every=1)."""

KNOBS: dict[str, tuple[str, ...]] = {
    "sequential": ("alpha", "absolute", "latency-absolute"),
    "naive": ("alpha",),
    "kayenta": ("every",),
    "threshold": ("failures",),
}
FRACTIONS = ("alpha", "absolute", "latency-absolute")  # knobs that take a number within (0, 1)


class VariantError(ValueError):
    """A variant name that cannot be built; the message says what is accepted."""


@dataclass
class ConfigOverride:
    """An engine judged with the benchmark's configuration changed by ``change`` (one knob)."""

    inner: Judge
    change: Callable[[EngineConfig], EngineConfig]
    name: str

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        return self.inner.judge(steps, self.change(config), final=final)


def _with_alpha(alpha: float) -> Callable[[EngineConfig], EngineConfig]:
    """Another family-wise rollback level."""
    return lambda config: replace(config, alpha=alpha)


def _with_absolute_margin(margin: float, kind: MetricKind) -> Callable[[EngineConfig], EngineConfig]:
    """``absoluteMargin`` on the metrics of one kind (a promotion rule)."""

    def change(config: EngineConfig) -> EngineConfig:
        return replace(
            config, metrics=tuple(replace(m, absolute_margin=margin) if m.kind is kind else m for m in config.metrics)
        )

    return change


def _accepted() -> str:
    return ", ".join(f"{family}@{knob}=N" for family, knobs in KNOBS.items() for knob in knobs)


def parse_variant(name: str) -> tuple[str, str, float]:
    """``family@knob=value`` -> (family, knob, value); VariantError on anything else."""
    family, _, setting = name.partition("@")
    knob, _, text = setting.partition("=")
    if family not in KNOBS or knob not in KNOBS[family]:
        raise VariantError(f"unknown engine variant {name!r}: use one of {_accepted()}")
    try:
        value = float(text)
    except ValueError:
        raise VariantError(f"engine variant {name!r}: {text!r} is not a number") from None
    if knob in FRACTIONS and not 0.0 < value < 1.0:
        raise VariantError(f"engine variant {name!r}: {knob} must be within (0, 1)")
    if knob not in FRACTIONS and (not math.isfinite(value) or value < 1 or value != int(value)):
        raise VariantError(f"engine variant {name!r}: {knob} must be a whole number of at least 1")
    return family, knob, value


def variant_judge(name: str, engine_for: Callable[[str], Judge]) -> Judge:
    """The judge a variant names; ``engine_for`` builds the family's default engine."""
    family, knob, value = parse_variant(name)
    if family == "sequential":
        changes = {
            "alpha": _with_alpha(value),
            "absolute": _with_absolute_margin(value, MetricKind.ERRORS),
            "latency-absolute": _with_absolute_margin(value, MetricKind.LATENCY),
        }
        change = changes[knob]
        return ConfigOverride(engine_for("sequential"), change, name)
    if family == "naive":
        return NaiveJudge(name=name, alpha=value)
    if family == "kayenta":
        module = importlib.import_module("analysis.kayenta")
        return cast(Judge, module.KayentaJudge(interval_points=int(value)))
    from analysis.threshold import ThresholdJudge

    return ThresholdJudge(name=name, failure_threshold=int(value))


def family_of(engine: str) -> str:
    """The family an engine name belongs to (``kayenta-1m`` is kayenta; ``oracle`` its own)."""
    base = engine.partition("@")[0]
    return "kayenta" if base == "kayenta-1m" else base
