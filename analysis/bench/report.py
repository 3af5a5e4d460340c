"""Render a benchmark result: markdown tables, JSON, and a Pareto plot (PNG, matplotlib Agg)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from analysis.bench.measures import DETECTION_HORIZONS_SECONDS, ClassSummary, Rate
from analysis.bench.runner import BenchResult
from analysis.bench.targets import check_targets
from analysis.bench.variants import family_of


def _rate(rate: Rate | None, interval: bool = True) -> str:
    if rate is None or rate.n == 0:
        return "-"
    if not interval:
        return f"{rate.value:.3f}"
    low, high = rate.interval
    return f"{rate.value:.3f} [{low:.3f}, {high:.3f}]"


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _seconds_steps(seconds: float | None, steps: float | None) -> str:
    if seconds is None or steps is None:
        return "-"
    return f"{seconds:,.0f} s ({steps:.1f})"


def _settings_line(result: BenchResult) -> str:
    g, b = result.plan.generator, result.plan.bench
    weights = "/".join(f"{w:g}" for w in g.weights)
    return (
        f"Schedule: canary weights {weights} % for {g.steps_per_weight} steps each, steps of "
        f"{g.step_seconds:g} s, deadline {g.max_steps} steps "
        f"(promotion counts from step {g.final_step + 1}). "
        f"Traffic {g.rps_range[0]:g}-{g.rps_range[1]:g} req/s, baseline error rate "
        f"{g.error_rate_range[0]:g}-{g.error_rate_range[1]:g}, lognormal latency (median "
        f"{g.latency_median_range_ms[0]:g}-{g.latency_median_range_ms[1]:g} ms, sigma {g.latency_sigma:g}), "
        f"all log-uniform per scenario. AR(1) phi {g.ar_phi:g}, sd {g.ar_error_sd:g} (errors) / "
        f"{g.ar_latency_sd:g} (latency). Engines: alpha {b.alpha:g}, margins {b.error_margin:g} (errors) / "
        f"{b.latency_margin:g} (latency), threshold ranges success >= {b.min_success_rate:g} %, "
        f"p99 <= {b.max_p99_ms:g} ms."
    )


def _healthy_rows(summaries: list[ClassSummary], cls: str) -> list[str]:
    return [
        f"| {cls} | {s.engine} | {s.runs} | {_rate(s.false_rollback)} | {_rate(s.promoted, False)} | "
        f"{_seconds_steps(s.time_to_promote_median_seconds, s.time_to_promote_median_steps)} | "
        f"{_rate(s.inconclusive, False)} |"
        for s in summaries
        if s.scenario_class == cls
    ]


def _regression_rows(summaries: list[ClassSummary], cls: str) -> list[str]:
    return [
        f"| {cls} | {s.engine} | {s.runs} | {_rate(s.missed)} | {_rate(s.promoted)} | "
        f"{_seconds_steps(s.ttd_median_seconds, s.ttd_median_steps)} | "
        f"{_seconds_steps(s.ttd_p90_seconds, s.ttd_p90_steps)} | "
        f"{_num(s.blast_radius_mean, 1)} ({_num(s.blast_radius_median, 1)}) | {_num(s.requests_to_detect)} | "
        f"{_num(s.oracle_ratio, 2)} | {_rate(s.early_rollback, False)} |"
        for s in summaries
        if s.scenario_class == cls
    ]


def _detection_lines(result: BenchResult) -> list[str]:
    """The share of all regression runs each engine detected within 2, 5, 10 and 20 minutes of the onset."""
    if not result.detection_curves:
        return []
    horizons = " | ".join(f"<= {h / 60:g} min" for h in DETECTION_HORIZONS_SECONDS)
    lines = [
        "",
        "## Detected within (pooled over classes)",
        "",
        "The share of *all* regression runs rolled back within each time of the onset: a run detected late or "
        "never counts as not detected, so every engine is read on the same runs (a median time to detect "
        "covers only the runs an engine detected).",
        "",
        f"| engine | classes | {horizons} | by the deadline |",
        "|---|---|" + "---:|" * (len(DETECTION_HORIZONS_SECONDS) + 1),
    ]
    for c in result.detection_curves:
        shares = " | ".join(_rate(rate, False) for rate in c.within)
        lines.append(f"| {c.engine} | {c.kind} | {shares} | {_rate(c.by_deadline, False)} |")
    return lines


def _scenarios_line(result: BenchResult) -> str:
    """How many scenarios were replayed, and where they came from."""
    if result.source == "generated":
        return f"{result.scenarios} scenarios generated ({result.replays} replays per class)"
    noun = "scenario" if result.scenarios == 1 else "scenarios"
    return (
        f"{result.scenarios} {noun} read from {result.source}, each replayed once "
        f"(at most {result.replays} per class: --replays)"
    )


def format_markdown(result: BenchResult) -> str:
    """The benchmark as markdown: settings, per-class tables, pooled per-engine table, targets."""
    classes_healthy = [
        c for c in result.classes if any(s.scenario_class == c and not s.regression for s in result.summaries)
    ]
    classes_regression = [
        c for c in result.classes if any(s.scenario_class == c and s.regression for s in result.summaries)
    ]
    lines = [
        "# meshroll bench analysis",
        "",
        f"{_scenarios_line(result)}, seed "
        f"{result.seed}, engines {', '.join(result.engines)}; took {result.elapsed_seconds:,.0f} s on "
        f"{result.processes} process(es).",
        "",
    ]
    if result.source == "generated":
        lines += [_settings_line(result), ""]
    for name, why in result.unavailable.items():
        lines.append(f"- engine **{name}** not run: {why}")
    if result.unavailable:
        lines.append("")
    if classes_healthy:
        lines += [
            "## Healthy canaries (A/A)",
            "",
            "| class | engine | runs | false rollback [95% CI] | promoted | median time to promote (steps) "
            "| inconclusive |",
            "|---|---|---:|---|---:|---:|---:|",
        ]
        for cls in classes_healthy:
            lines += _healthy_rows(result.summaries, cls)
        lines.append("")
    if classes_regression:
        lines += [
            "## Regressions",
            "",
            "Time to detect counts from the regression's onset. Blast radius: excess bad requests the canary "
            "served until the rollback (runs that never rolled back: every step, all the traffic once promoted), "
            "mean (median). "
            "Requests: canary + stable requests until the "
            "rollback (detected runs); x oracle: ratio of means on runs both detected. Missed: no rollback by "
            "the end; promoted: of those, the runs that sent the regression all the traffic.",
            "",
            "| class | engine | runs | missed [95% CI] | promoted [95% CI] | median TTD (steps) | p90 TTD (steps) "
            "| blast radius | requests to detect | x oracle | rollback before onset |",
            "|---|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for cls in classes_regression:
            lines += _regression_rows(result.summaries, cls)
        lines.append("")
    lines += [
        "## Per engine (pooled over classes)",
        "",
        "| engine | A/A false rollback [95% CI] | median TTD errors | median TTD latency | missed | "
        "regressions promoted | mean blast radius | one decision, 20 metrics x 60 steps |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for e in result.engine_summaries:
        timing = result.decision_seconds.get(e.engine)
        lines.append(
            f"| {e.engine} | {_rate(e.false_rollback)} | {_num(e.ttd_median_seconds_errors)} s | "
            f"{_num(e.ttd_median_seconds_latency)} s | {_rate(e.missed, False)} | {_rate(e.promoted, False)} | "
            f"{_num(e.blast_radius_mean, 1)} | "
            f"{'-' if timing is None else f'{timing * 1000:.1f} ms'} |"
        )
    lines += _detection_lines(result)
    lines += [
        "",
        "## By traffic (pooled over classes)",
        "",
        "Which traffic makes detection and promotion possible within the deadline; the band is the "
        "scenario's mean request rate (both arms).",
        "",
        "| engine | traffic | A/A false rollback | A/A promoted | errors detected | median TTD errors "
        "| latency detected | median TTD latency |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for b in result.band_summaries:
        lines.append(
            f"| {b.engine} | {b.band} | {_rate(b.false_rollback, False)} | {_rate(b.promoted, False)} | "
            f"{_rate(b.detected_errors, False)} | {_num(b.ttd_median_seconds_errors)} s | "
            f"{_rate(b.detected_latency, False)} | {_num(b.ttd_median_seconds_latency)} s |"
        )
    lines += [
        "",
        "## Targets",
        "",
        "meshroll's own goals for its default engine, checked on these replays: a target not met is one the",
        "sequential engine does not reach here (docs/bench-results.md says why, for the published run).",
        "",
    ]
    for check in check_targets(result):
        mark = {True: "met", False: "**not met**", None: "not measured"}[check.met]
        lines.append(f"- {check.target}: {check.detail} — {mark}")
    if result.outputs:
        lines += ["", "Files: " + ", ".join(result.outputs.values())]
    return "\n".join(lines) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, Rate):
        low, high = value.interval
        return {
            "count": value.count,
            "n": value.n,
            "value": _jsonable(value.value),
            "low": _jsonable(low),
            "high": _jsonable(high),
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def result_to_json(result: BenchResult) -> dict[str, Any]:
    """The result as plain JSON data (the same numbers as the markdown, plus the targets)."""
    data: dict[str, Any] = _jsonable(dataclasses.replace(result, records=[]))
    del data["records"]
    data["targets"] = [_jsonable(t) for t in check_targets(result)]
    return data


def plot_pareto(result: BenchResult, path: Path) -> None:
    """False-rollback rate (A/A) against median time to detect: error classes left, latency right.

    One point per engine; the variants of one family (``--sweep``) are joined into its curve.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11.0, 5.0), dpi=120, sharey=True)
    families = list(dict.fromkeys(family_of(e.engine) for e in result.engine_summaries))
    for ax, kind in zip(axes, ("errors", "latency"), strict=True):
        for family in families:
            color = f"C{families.index(family) % 10}"
            points = []
            for e in result.engine_summaries:
                ttd = e.ttd_median_seconds_errors if kind == "errors" else e.ttd_median_seconds_latency
                if family_of(e.engine) != family or e.false_rollback.n == 0 or ttd is None:
                    continue
                points.append((e.false_rollback.value, ttd, e))
            points.sort(key=lambda p: p[0])
            if len(points) > 1:
                ax.plot([p[1] for p in points], [p[0] for p in points], color=color, linewidth=0.8)
            for j, (y, ttd, e) in enumerate(points):
                low, high = e.false_rollback.interval
                ax.errorbar(
                    [ttd],
                    [y],
                    yerr=[[max(0.0, y - low)], [max(0.0, high - y)]],  # Wilson ends can pass y by rounding
                    fmt="o",
                    color=color,
                    capsize=3,
                    label=family if j == 0 else None,
                )
                ax.annotate(e.engine, (ttd, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.axhline(result.plan.bench.alpha, linestyle="--", linewidth=0.8, color="grey")
        ax.set_xlabel(f"median time to detect (s), {kind} classes pooled")
        ax.grid(True, linewidth=0.3)
        ax.set_title(f"{kind} regressions")
    axes[0].set_ylabel("false-rollback rate on healthy canaries")
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("Decision engines: false rollbacks vs. time to detect (lower-left is better)")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def write_outputs(result: BenchResult, out_dir: Path) -> dict[str, str]:
    """Write bench.md, bench.json and bench-pareto.png into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "bench.md",
        "json": out_dir / "bench.json",
        "plot": out_dir / "bench-pareto.png",
    }
    outputs = {k: str(v) for k, v in paths.items()}
    result.outputs.update(outputs)
    paths["json"].write_text(json.dumps(result_to_json(result), indent=2) + "\n", encoding="utf-8")
    paths["markdown"].write_text(format_markdown(result), encoding="utf-8")
    plot_pareto(result, paths["plot"])
    return outputs
