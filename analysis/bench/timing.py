"""Decision latency: how long one decision takes on a large experiment (a measurement, never a test)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, replace

from analysis.bench.generator import GeneratorSettings, generate
from analysis.bench.replay import BenchConfig, spec_for
from analysis.observations import EngineConfig, MetricKind, MetricPair, MetricSpec, StepWindow
from analysis.verdicts import Judge


@dataclass(frozen=True)
class LargeExperiment:
    """``metrics`` metrics (half errors, half latency histograms) over ``steps`` steps."""

    steps: tuple[StepWindow, ...]
    config: EngineConfig


def large_experiment(metrics: int = 20, steps: int = 60, rps: float = 100.0, seed: int = 0) -> LargeExperiment:
    settings = GeneratorSettings(max_steps=steps, rps_range=(rps, rps))
    per_step: list[dict[str, MetricPair]] = [{} for _ in range(steps)]
    specs: list[MetricSpec] = []
    bench = BenchConfig()
    for i in range((metrics + 1) // 2):
        source = generate("aa-independent", (seed, i), settings)
        for kind, key in ((MetricKind.ERRORS, "errors"), (MetricKind.LATENCY, "latency")):
            if len(specs) == metrics:
                break
            name = f"{key}-{i}"
            specs.append(spec_for(name, kind, bench))
            for k, step in enumerate(source.steps):
                per_step[k][name] = step.metrics[key]
    template = generate("aa-independent", (seed, 0), settings).steps
    windows = tuple(replace(step, metrics=per_step[k]) for k, step in enumerate(template))
    config = EngineConfig(metrics=tuple(specs), alpha=bench.alpha, min_requests=bench.min_requests)
    return LargeExperiment(windows, config)


def decision_seconds(judge: Judge, experiment: LargeExperiment, repeats: int = 5) -> float:
    """Median wall time of ``judge.judge`` on the whole experiment, after one warm-up call."""
    judge.judge(experiment.steps, experiment.config)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        judge.judge(experiment.steps, experiment.config)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
