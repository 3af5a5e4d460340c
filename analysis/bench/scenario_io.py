"""Scenarios as JSON: one scenario per ``.json`` file, or one per line of a ``.jsonl`` file.

The format is documented in ``docs/bench-scenarios.md``. Reading validates everything and
raises ``ScenarioFormatError`` with one line naming the file and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from analysis.bench.scenario import EffectKind, MetricInfo, Scenario, TrueEffect
from analysis.observations import ArmSample, MetricKind, MetricPair, StepWindow

FORMAT = "meshroll-bench-scenario/1"
_E = TypeVar("_E", EffectKind, MetricKind)


class ScenarioFormatError(ValueError):
    """A scenario file is malformed. The message names the file and the field."""


class _FieldError(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


# --- writing -----------------------------------------------------------------------------------


def _count(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _arm_to_json(arm: ArmSample) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": _count(arm.requests)}
    if arm.errors:
        out["errors"] = _count(arm.errors)
    if arm.buckets:
        out["buckets"] = [["+Inf" if math.isinf(le) else _count(le), _count(c)] for le, c in arm.buckets]
    if arm.gauges:
        out["gauges"] = list(arm.gauges)
    return out


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    """The JSON object of one scenario (see docs/bench-scenarios.md)."""
    e = scenario.effect
    return {
        "format": FORMAT,
        "name": scenario.name,
        "class": scenario.scenario_class,
        "effect": {
            "kind": e.kind.value,
            "metric": e.metric,
            "ratio": e.ratio,
            "magnitude": e.magnitude,
            "edge": e.edge,
            "onset_step": e.onset_step,
        },
        "final_step": scenario.final_step,
        "metrics": [{"name": m.name, "kind": m.kind.value} for m in scenario.metrics],
        "steps": [
            {
                "start": step.start,
                "end": step.end,
                "canary_weight": step.canary_weight,
                "metrics": {
                    name: {"stable": _arm_to_json(pair.stable), "canary": _arm_to_json(pair.canary)}
                    for name, pair in step.metrics.items()
                },
            }
            for step in scenario.steps
        ],
    }


def write_scenario(path: Path, scenario: Scenario) -> None:
    path.write_text(json.dumps(scenario_to_json(scenario), separators=(",", ":")) + "\n", encoding="utf-8")


def write_scenarios_jsonl(path: Path, scenarios: Iterable[Scenario]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for scenario in scenarios:
            out.write(json.dumps(scenario_to_json(scenario), separators=(",", ":")) + "\n")


# --- reading -----------------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _FieldError(f"{where}.{key}" if where else key, "missing")
    return obj[key]


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError(where, f"expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise _FieldError(where, f"expected a list, got {type(value).__name__}")
    return value


def _num(value: Any, where: str, *, minimum: float | None = None, maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(_float(value)):
        huge = isinstance(value, int) and not isinstance(value, bool)  # finite, but too large for a float
        shown = f"an integer of {len(str(abs(value)))} digits" if huge else json.dumps(value)
        raise _FieldError(where, f"expected a finite number, got {shown}")
    if minimum is not None and value < minimum:
        raise _FieldError(where, f"must be >= {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:
        raise _FieldError(where, f"must be <= {maximum:g}, got {value:g}")
    return float(value)


def _float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer too large for a float
        return math.inf


def _known(obj: Mapping[str, Any], where: str, fields: set[str]) -> None:
    unknown = set(obj) - fields
    if unknown:
        name = sorted(unknown)[0]
        raise _FieldError(f"{where}.{name}" if where else name, f"unknown field; allowed: {', '.join(sorted(fields))}")


def _int(value: Any, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _FieldError(where, f"expected an integer >= {minimum}, got {json.dumps(value)}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _FieldError(where, f"expected a non-empty string, got {json.dumps(value)}")
    return value


def _enum(cls: type[_E], value: Any, where: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise _FieldError(where, f"expected one of {allowed}, got {json.dumps(value)}") from None


def _arm_from_json(value: Any, where: str) -> ArmSample:
    arm = _obj(value, where)
    _known(arm, where, {"requests", "errors", "buckets", "gauges"})
    buckets: list[tuple[float, float]] = []
    if arm.get("buckets") == []:
        raise _FieldError(f"{where}.buckets", 'empty: omit it, or close the list with ["+Inf", count]')
    for i, item in enumerate(_list(arm.get("buckets", []), f"{where}.buckets")):
        pair = _list(item, f"{where}.buckets[{i}]")
        if len(pair) != 2:
            raise _FieldError(f"{where}.buckets[{i}]", "expected [le, count]")
        le = math.inf if pair[0] == "+Inf" else _num(pair[0], f"{where}.buckets[{i}][0]")
        buckets.append((le, _num(pair[1], f"{where}.buckets[{i}][1]", minimum=0)))
    if buckets and not math.isinf(buckets[-1][0]):
        raise _FieldError(f"{where}.buckets", 'close the list with ["+Inf", count], the count of every request')
    gauges = tuple(
        _num(g, f"{where}.gauges[{i}]") for i, g in enumerate(_list(arm.get("gauges", []), f"{where}.gauges"))
    )
    sample = ArmSample(
        requests=_num(_get(arm, "requests", where), f"{where}.requests", minimum=0),
        errors=_num(arm.get("errors", 0), f"{where}.errors", minimum=0),
        buckets=tuple(buckets),
        gauges=gauges,
    )
    problems = sample.problems()
    if problems:
        raise _FieldError(where, problems[0])
    if buckets and buckets[-1][1] != sample.requests:
        raise _FieldError(
            f"{where}.buckets",
            f'the "+Inf" count ({buckets[-1][1]:g}) differs from requests ({sample.requests:g}); '
            "it is the count of every request",
        )
    return sample


def _step_from_json(value: Any, index: int, declared: Mapping[str, MetricKind]) -> StepWindow:
    where = f"steps[{index}]"
    step = _obj(value, where)
    _known(step, where, {"start", "end", "canary_weight", "metrics"})
    start = _num(_get(step, "start", where), f"{where}.start")
    end = _num(_get(step, "end", where), f"{where}.end")
    if end <= start:
        raise _FieldError(f"{where}.end", f"must be after start ({end:g} <= {start:g})")
    weight = _num(_get(step, "canary_weight", where), f"{where}.canary_weight", minimum=0, maximum=100)
    metrics: dict[str, MetricPair] = {}
    for name, raw in _obj(_get(step, "metrics", where), f"{where}.metrics").items():
        mwhere = f"{where}.metrics.{name}"
        if name not in declared:
            raise _FieldError(mwhere, "metric not declared in 'metrics'")
        pair = _obj(raw, mwhere)
        metrics[name] = MetricPair(
            stable=_arm_from_json(_get(pair, "stable", mwhere), f"{mwhere}.stable"),
            canary=_arm_from_json(_get(pair, "canary", mwhere), f"{mwhere}.canary"),
        )
    return StepWindow(index=index, start=start, end=end, canary_weight=weight, metrics=metrics)


def _effect_from_json(value: Any, declared: Mapping[str, MetricKind], n_steps: int) -> TrueEffect:
    effect = _obj(value, "effect")
    _known(effect, "effect", {"kind", "metric", "ratio", "magnitude", "edge", "onset_step"})
    kind = _enum(EffectKind, _get(effect, "kind", "effect"), "effect.kind")
    metric = _str(_get(effect, "metric", "effect"), "effect.metric")
    if metric not in declared:
        raise _FieldError("effect.metric", f"metric {metric!r} is not declared in 'metrics'")
    edge_raw = effect.get("edge")
    if kind in (EffectKind.LATENCY, EffectKind.TAIL):
        _check_latency_effect(kind, metric, declared[metric], edge_raw)
    onset = _int(effect.get("onset_step", 0), "effect.onset_step")
    if onset >= max(1, n_steps):
        raise _FieldError("effect.onset_step", f"must be a step index below {n_steps}, got {onset}")
    return TrueEffect(
        kind=kind,
        metric=metric,
        ratio=_num(_get(effect, "ratio", "effect"), "effect.ratio", minimum=1e-12),
        magnitude=_num(effect.get("magnitude", 0.0), "effect.magnitude"),
        edge=None if edge_raw is None else _num(edge_raw, "effect.edge", minimum=0),
        onset_step=onset,
    )


def _check_latency_effect(kind: EffectKind, metric: str, metric_kind: MetricKind, edge: Any) -> None:
    """A latency or tail effect is measured as requests slower than ``edge`` on a latency metric."""
    if metric_kind is not MetricKind.LATENCY:
        raise _FieldError(
            "effect.metric",
            f"a {kind.value} effect needs a latency metric; {metric!r} is declared with kind {metric_kind.value}",
        )
    if edge is None:
        raise _FieldError(
            "effect.edge",
            f"a {kind.value} effect needs the bucket edge whose exceedances are the bad events "
            "(one of the metric's bucket edges); without it nothing can be measured",
        )


def scenario_from_json(value: Any) -> Scenario:
    """Build a scenario from its JSON object. Raises ``ScenarioFormatError`` (without a file name)."""
    try:
        return _scenario_from_json(value)
    except _FieldError as exc:
        raise ScenarioFormatError(str(exc)) from None


def _scenario_from_json(value: Any) -> Scenario:
    doc = _obj(value, "scenario")
    _known(doc, "", {"format", "name", "class", "effect", "final_step", "metrics", "steps"})
    fmt = doc.get("format", FORMAT)
    if fmt != FORMAT:
        raise _FieldError("format", f"expected {FORMAT!r}, got {json.dumps(fmt)}")
    metrics: list[MetricInfo] = []
    for i, raw in enumerate(_list(_get(doc, "metrics", ""), "metrics")):
        m = _obj(raw, f"metrics[{i}]")
        _known(m, f"metrics[{i}]", {"name", "kind"})
        if any(known.name == m.get("name") for known in metrics):
            raise _FieldError(f"metrics[{i}].name", f"metric {m.get('name')!r} is declared twice")
        metrics.append(
            MetricInfo(
                _str(_get(m, "name", f"metrics[{i}]"), f"metrics[{i}].name"),
                _enum(MetricKind, _get(m, "kind", f"metrics[{i}]"), f"metrics[{i}].kind"),
            )
        )
    if not metrics:
        raise _FieldError("metrics", "needs at least one metric")
    declared = {m.name: m.kind for m in metrics}
    raw_steps = _list(_get(doc, "steps", ""), "steps")
    if not raw_steps:
        raise _FieldError("steps", "needs at least one step")
    steps = tuple(_step_from_json(raw, i, declared) for i, raw in enumerate(raw_steps))
    final_step = _int(doc.get("final_step", len(steps) - 1), "final_step")
    if final_step >= len(steps):
        raise _FieldError("final_step", f"must be below the number of steps ({len(steps)}), got {final_step}")
    effect = _effect_from_json(_get(doc, "effect", ""), declared, len(steps))
    _check_edge(effect, steps)
    return Scenario(
        name=_str(_get(doc, "name", ""), "name"),
        scenario_class=_str(_get(doc, "class", ""), "class"),
        effect=effect,
        metrics=tuple(metrics),
        steps=steps,
        final_step=final_step,
    )


def _check_edge(effect: TrueEffect, steps: Sequence[StepWindow]) -> None:
    """A latency effect's ``edge`` must be a bucket edge wherever its metric has buckets."""
    if effect.edge is None:
        return
    for step in steps:
        pair = step.metrics.get(effect.metric)
        for arm in (pair.stable, pair.canary) if pair is not None else ():
            edges = [le for le, _ in arm.buckets]
            if edges and effect.edge not in edges:
                shown = ", ".join("+Inf" if math.isinf(e) else f"{e:g}" for e in edges)
                raise _FieldError(
                    "effect.edge", f"{effect.edge:g} is not a bucket edge of {effect.metric!r} (edges: {shown})"
                )


def _parse(text: str, label: str) -> Scenario:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioFormatError(
            f"{label}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except RecursionError:
        raise ScenarioFormatError(f"{label}: its JSON is nested too deeply for a scenario") from None
    try:
        return _scenario_from_json(value)
    except _FieldError as exc:
        raise ScenarioFormatError(f"{label}: {exc}") from None


def _read_labelled(path: Path) -> list[tuple[str, Scenario]]:
    """The scenarios of one file, each with where it was read (``file`` or ``file:line``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFormatError(f"{path}: cannot read the file ({exc})") from None
    if path.suffix != ".jsonl":
        return [(str(path), _parse(text, str(path)))]
    lines = [(f"{path}:{lineno}", line) for lineno, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return [(label, _parse(line, label)) for label, line in lines]


def _unique_names(labelled: Sequence[tuple[str, Scenario]]) -> list[Scenario]:
    """The scenarios; two with one name stop here (the results are keyed and shown by name)."""
    first: dict[str, str] = {}
    for label, scenario in labelled:
        if scenario.name in first:
            raise ScenarioFormatError(
                f"{label}: name: {scenario.name!r} is also the name of the scenario in {first[scenario.name]}; "
                "names must be unique"
            )
        first[scenario.name] = label
    return [scenario for _, scenario in labelled]


def read_scenario_file(path: Path) -> list[Scenario]:
    """Read a ``.json`` file (one scenario) or a ``.jsonl`` file (one scenario per non-blank line)."""
    return _unique_names(_read_labelled(path))


def read_scenarios(directory: Path) -> list[Scenario]:
    """Every scenario in ``directory`` (``*.json`` and ``*.jsonl``, in name order); names are unique."""
    if not directory.is_dir():
        raise ScenarioFormatError(f"{directory}: not a directory of scenario files")
    files = sorted(p for p in directory.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file())
    if not files:
        raise ScenarioFormatError(f"{directory}: no *.json or *.jsonl scenario files")
    return _unique_names([item for path in files for item in _read_labelled(path)])
