"""Run the benchmark: generate (or read) scenarios, replay them through every engine, summarise.

``run_bench`` is what ``meshroll bench analysis`` calls. Work is spread over a small process pool;
each worker builds its own engines and generates its own scenarios from their seeds, so only the
run records cross process boundaries.
"""

from __future__ import annotations

import importlib
import multiprocessing
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from analysis.bench.baselines import NaiveJudge, OracleSprtJudge
from analysis.bench.generator import AA_CLASSES, REGRESSION_CLASSES, GeneratorSettings, class_spec, generate
from analysis.bench.measures import (
    BandSummary,
    ClassSummary,
    DetectionCurve,
    EngineSummary,
    detection_curves,
    summarize,
    summarize_bands,
    summarize_engines,
)
from analysis.bench.replay import BenchConfig, RunRecord, replay_all
from analysis.bench.scenario import EffectKind, Scenario
from analysis.bench.scenario_io import read_scenarios
from analysis.bench.timing import decision_seconds, large_experiment
from analysis.bench.variants import variant_judge
from analysis.verdicts import Judge

PROJECT_ENGINES: tuple[str, ...] = ("sequential", "kayenta", "threshold")
BASELINE_ENGINES: tuple[str, ...] = ("kayenta-1m", "naive", "oracle")
KAYENTA_INTERVAL_STEPS = 5
"""``kayenta`` judges its growing window every 5 one-minute steps (stats.md §5.6); ``kayenta-1m`` every step."""
DEFAULT_ENGINES: tuple[str, ...] = PROJECT_ENGINES + BASELINE_ENGINES
DEFAULT_CLASSES: tuple[str, ...] = (
    *AA_CLASSES,
    *REGRESSION_CLASSES,
    "errors-x2-mid",
    "latency+25%-mid",
    "tail-1%-mid",
)
DEFAULT_REPLAYS = 200


@dataclass(frozen=True)
class BenchPlan:
    """Everything besides the CLI's options: classes, generator settings, engine configuration."""

    classes: tuple[str, ...] = DEFAULT_CLASSES
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    bench: BenchConfig = field(default_factory=BenchConfig)
    processes: int = 2
    timing_repeats: int = 5


@dataclass(frozen=True)
class BenchResult:
    """The benchmark's numbers; ``format_markdown`` and ``result_to_json`` render them."""

    replays: int
    seed: int
    engines: tuple[str, ...]
    unavailable: dict[str, str]
    classes: tuple[str, ...]
    error_classes: tuple[str, ...]
    source: str
    scenarios: int
    summaries: list[ClassSummary]
    engine_summaries: list[EngineSummary]
    band_summaries: list[BandSummary]
    detection_curves: list[DetectionCurve]
    decision_seconds: dict[str, float]
    elapsed_seconds: float
    processes: int
    plan: BenchPlan
    outputs: dict[str, str] = field(default_factory=dict)
    records: list[RunRecord] = field(default_factory=list, repr=False)  # every run (not in the JSON)


def _engine_factory() -> Callable[[str], Judge]:
    module = importlib.import_module("analysis.engines")
    return cast(Callable[[str], Judge], module.engine_for)


def make_judge(name: str) -> Judge:
    """A judge that does not depend on the scenario (everything but the oracle)."""
    if name == "naive":
        return NaiveJudge()
    if name in ("kayenta", "kayenta-1m"):
        name = f"kayenta@every={KAYENTA_INTERVAL_STEPS if name == 'kayenta' else 1}"
    if "@" in name:
        return variant_judge(name, _engine_factory())
    return _engine_factory()(name)


def available_engines(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The engines that can be built, and why the others cannot."""
    ok: list[str] = []
    missing: dict[str, str] = {}
    for name in names:
        if name == "oracle":
            ok.append(name)
            continue
        try:
            make_judge(name)
        except Exception as exc:
            missing[name] = f"{type(exc).__name__}: {exc}"
        else:
            ok.append(name)
    return ok, missing


# --- the work each process does ------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(engines: Sequence[str], generator: GeneratorSettings, bench: BenchConfig) -> None:
    _WORKER["judges"] = {name: make_judge(name) for name in engines if name != "oracle"}
    _WORKER["engines"] = list(engines)
    _WORKER["generator"] = generator
    _WORKER["bench"] = bench


Task = tuple[str, int, int] | Scenario  # (class, seed, replay) to generate, or a scenario read from disk


def scenario_seed(seed: int, scenario_class: str, replay: int) -> tuple[int, int, int]:
    """A seed per scenario that does not depend on which other classes run."""
    return seed, zlib.crc32(scenario_class.encode()), replay


def _run_task(task: Task) -> list[RunRecord]:
    if isinstance(task, Scenario):
        scenario = task
    else:
        cls, seed, index = task
        scenario = generate(cls, scenario_seed(seed, cls, index), _WORKER["generator"], f"{cls}-{index:04d}")
    judges: dict[str, Judge] = {}
    for name in _WORKER["engines"]:
        judges[name] = OracleSprtJudge.for_scenario(scenario) if name == "oracle" else _WORKER["judges"][name]
    return replay_all(scenario, judges, _WORKER["bench"])


def run_tasks(tasks: Sequence[Task], engines: Sequence[str], plan: BenchPlan) -> list[RunRecord]:
    """Replay every task through every engine, in a pool of ``plan.processes`` when it is worth it."""
    records: list[RunRecord] = []
    if plan.processes <= 1 or len(tasks) < 8:
        _init_worker(engines, plan.generator, plan.bench)
        for task in tasks:
            records.extend(_run_task(task))
        return records
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    with context.Pool(plan.processes, _init_worker, (list(engines), plan.generator, plan.bench)) as pool:
        for chunk in pool.imap_unordered(_run_task, tasks, chunksize=4):
            records.extend(chunk)
    return records


def _tasks(replays: int, seed: int, plan: BenchPlan, scenarios_dir: Path | None) -> tuple[list[Task], str]:
    if scenarios_dir is None:
        for cls in plan.classes:
            class_spec(cls, plan.generator)  # fail early on an unknown class name
        return [(cls, seed, i) for cls in plan.classes for i in range(replays)], "generated"
    per_class: dict[str, int] = {}
    tasks: list[Task] = []
    for scenario in read_scenarios(scenarios_dir):
        per_class[scenario.scenario_class] = per_class.get(scenario.scenario_class, 0) + 1
        if per_class[scenario.scenario_class] <= replays:
            tasks.append(scenario)
    return tasks, str(scenarios_dir)


def _error_classes(tasks: Sequence[Task], plan: BenchPlan) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for task in tasks:
        if isinstance(task, Scenario):
            if task.effect.kind is EffectKind.ERRORS:
                found[task.scenario_class] = None
        elif class_spec(task[0], plan.generator).effect is EffectKind.ERRORS:
            found[task[0]] = None
    return tuple(found)


def run_bench(
    replays: int = DEFAULT_REPLAYS,
    scenarios_dir: Path | None = None,
    out_dir: Path | None = None,
    seed: int = 0,
    engines: list[str] | None = None,
    plan: BenchPlan | None = None,
) -> BenchResult:
    """Run the replay benchmark and (with ``out_dir``) write bench.md, bench.json and bench-pareto.png.

    With ``scenarios_dir`` the scenarios are read from ``*.json``/``*.jsonl`` files there and each
    is replayed once; ``replays`` then caps the number of scenarios per class.
    Engines that cannot be built (not written yet) are listed in ``unavailable`` and skipped.
    """
    if replays < 1:
        raise ValueError(f"replays must be at least 1, got {replays}")
    p = plan or BenchPlan()
    started = time.perf_counter()
    names, unavailable = available_engines(engines or list(DEFAULT_ENGINES))
    tasks, source = _tasks(replays, seed, p, scenarios_dir)
    records = run_tasks(tasks, names, p)
    records.sort(key=lambda r: (names.index(r.engine), r.scenario_class, r.scenario))
    classes = tuple(
        dict.fromkeys([*(c for c in p.classes if scenarios_dir is None), *(r.scenario_class for r in records)])
    )
    error_classes = _error_classes(tasks, p)
    experiment = large_experiment()
    timings = {
        name: decision_seconds(make_judge(name), experiment, p.timing_repeats) for name in names if name != "oracle"
    }
    result = BenchResult(
        replays=replays,
        seed=seed,
        engines=tuple(names),
        unavailable=unavailable,
        classes=classes,
        error_classes=error_classes,
        source=source,
        scenarios=len(tasks),
        summaries=summarize(records, classes),
        engine_summaries=summarize_engines(records, set(error_classes)),
        band_summaries=summarize_bands(records, set(error_classes)),
        detection_curves=detection_curves(records, set(error_classes)),
        decision_seconds=timings,
        elapsed_seconds=time.perf_counter() - started,
        processes=p.processes,
        plan=p,
        records=records,
    )
    if out_dir is not None:
        from analysis.bench.report import write_outputs

        result.outputs.update(write_outputs(result, out_dir))
    return result
