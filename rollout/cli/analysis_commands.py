"""Commands around the decision engines: oracle, bench, plan, report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli.output import check_writable, console, fail

if TYPE_CHECKING:
    from rollout.preflight import Traffic
    from rollout.spec.models import Experiment

oracle_app = typer.Typer(help="Check an engine against an external oracle's test cases.", no_args_is_help=True)


@oracle_app.command("kayenta")
def oracle_kayenta(
    file: Annotated[Path, typer.Argument(help="Cases in the format of kayenta-cases.json.")],
) -> None:
    """Run every case of a Kayenta oracle file; print each failure, then 'N passed, M failed'."""
    from analysis.kayenta.errors import OracleFileError
    from analysis.kayenta.oracle import format_report, run_oracle_file

    try:
        report = run_oracle_file(file)
    except OracleFileError as exc:
        fail(str(exc))
    for line in format_report(report):
        console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(1 if report.failed else 0)


def report(
    status_file: Annotated[
        Path,
        typer.Argument(
            help="A status JSON written by 'meshroll run --status-out', or an Experiment "
            "('kubectl get experiment NAME -o json') or its .status."
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the HTML page.")] = Path("report.html"),
    title: Annotated[str | None, typer.Option(help="The page title (default: the file name).")] = None,
) -> None:
    """Render one self-contained HTML page for a finished or running experiment."""
    from pydantic import ValidationError

    from rollout.kube.document import status_of
    from rollout.report import write_report

    hint = "write one with 'meshroll run --status-out' or 'kubectl get experiment NAME -o json'"
    if output.resolve() == status_file.resolve():
        fail(f"-o {output}: is the status file being read; writing there would replace it: give another file")
    try:
        document = json.loads(status_file.read_text(encoding="utf-8-sig"))
        foreign = _foreign_kind(document)
        if foreign is not None:
            fail(f"{status_file}: {foreign}")
        status = status_of(document)
    except RecursionError:
        fail(f"{status_file}: not a meshroll status (its JSON is nested too deeply); {hint}")
    except OSError as exc:
        fail(f"{status_file}: cannot read it ({exc.strerror or exc})")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        fail(f"{status_file}: not a meshroll status ({where}: {first['msg']}); {hint}")
    except ValueError as exc:  # JSONDecodeError is one (checked after ValidationError, which is one too)
        fail(f"{status_file}: not a JSON object ({exc}); {hint}")
    if status is None:
        fail(f"{status_file}: this Experiment has not started a run yet; nothing to report")
    try:
        path = write_report(status, title or status_file.stem, output)
    except OSError as exc:
        fail(f"-o {output}: cannot write the report there ({exc.strerror or exc}); choose a file you can write to")
    console.print(f"report: {path}", markup=False)


def _foreign_kind(document: object) -> str | None:
    """What is wrong with a Kubernetes object that is no Experiment (None: an Experiment, or no object at all)."""
    if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
        return None
    kind, api = document["kind"], document.get("apiVersion")
    if kind == "Experiment":
        return None
    if kind == "List" or kind.endswith("List"):
        return f"a {kind} of objects; give one Experiment: kubectl get experiment NAME -o json"
    return f"a {kind} ({api}), not a meshroll Experiment or its status"


MAX_RPS = 1e9  # past any service, and short of the planner's float range
DEFAULT_REGRESSION = 2.0  # the regression a plan asks about when neither --regression nor the file says one


def plan(
    file: Annotated[Path, typer.Argument(help="The experiment YAML.")],
    rps: Annotated[
        float | None, typer.Option(help="Requests per second to the service (default: local loadRate).")
    ] = None,
    error_rate: Annotated[
        float | None, typer.Option(help="Stable's error rate, e.g. 0.001 (default: local stable errorRate).")
    ] = None,
    regression: Annotated[
        float | None,
        typer.Option(
            help="The smallest regression that matters, as a ratio (default: 2; for an embedded-mesh file, the one "
            "its canary has)."
        ),
    ] = None,
    slow_share: Annotated[
        float | None,
        typer.Option(
            help="Stable's share of requests slower than each latency edge, e.g. 0.05 (default: from the local "
            "backend's profile, else 0.05)."
        ),
    ] = None,
) -> None:
    """Estimate, before a run, how long the engine needs to detect a regression and to promote."""
    from rich.table import Table

    from analysis.planning import duration_text
    from rollout.cli.run_commands import load_or_fail
    from rollout.preflight import (
        assumed_traffic,
        own_canary,
        own_canary_note,
        planned_edges,
        preflight,
        unplanned_latency,
    )

    if regression is not None and not (math.isfinite(regression) and regression > 1.0):
        fail(f"--regression {regression:g} must be a finite number above 1 (2 means the canary's bad events double)")
    if rps is not None and not 0 < rps <= MAX_RPS:
        fail(f"--rps {rps:g} must be above 0 and at most {MAX_RPS:g} (requests per second to the service)")
    if error_rate is not None and not 0 < error_rate < 1:
        fail(f"--error-rate {error_rate:g} must be between 0 and 1, both excluded (a proportion: 0.002 is 0.2%)")
    if slow_share is not None and not 0 < slow_share < 1:
        fail(f"--slow-share {slow_share:g} must be between 0 and 1, both excluded (a proportion: 0.05 is 5%)")
    experiment = load_or_fail(file)
    if experiment.spec.strategy is None:
        fail(f"{file}: a chaos-only experiment has no canary to judge, so there is nothing to plan")
    traffic = assumed_traffic(experiment, rps, error_rate, slow_share)
    own = own_canary(experiment, planned_edges(experiment, traffic)) if regression is None else None
    plans = preflight(experiment, traffic, regression or DEFAULT_REGRESSION, own)
    edges_unknown = [
        f"{name}: its bucket edges are chosen during the run; give latencyEdges (e.g. [100, 250]) to plan it"
        for name in unplanned_latency(experiment, traffic)
    ]
    if not plans:
        fail(f"{file}: {edges_unknown[0]}" if edges_unknown else f"{file}: no error or latency metric to plan for")
    engine = experiment.spec.analysis.engine if experiment.spec.analysis is not None else "sequential"
    other = engine != "sequential"
    if other:
        console.print(_other_engine_note(file, engine, experiment), markup=False, soft_wrap=True)
    asked = "the canary it runs" if own else f"a {regression or DEFAULT_REGRESSION:g}x regression"
    title = f"{experiment.key}: {traffic.request_rate:g} req/s, {asked}"
    table = Table(title=title + (" (if judged by the sequential engine)" if other else ""))
    table.add_column("metric", overflow="fold")  # a name is never cut short: it may be all that tells two apart
    for column in ("bad events", "stable rate", "detect in", "requests to detect", "promote in"):
        table.add_column(column)
    for item in plans:
        p = item.plan
        table.add_row(
            item.metric,
            item.what,
            f"{100 * item.rate:.3g}%",
            "no regression"
            if item.regression is None
            else duration_text(p.detect_seconds)
            if p.detect_seconds is not None
            else "never",
            f"{p.detect_requests:.0f}" if p.detect_requests is not None else "-",
            duration_text(p.promote_seconds) if p.promote_seconds is not None else "never",
        )
    console.print(table)
    assumed = _assumptions(experiment, traffic, rps, error_rate, slow_share)
    own_note = [own_canary_note(plans)] if own else []
    for note in [*edges_unknown, *own_note, *_share_notes(experiment, traffic), *assumed]:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    warnings = list(dict.fromkeys(w for item in plans for w in item.plan.warnings))  # one per metric may repeat
    for warning in warnings:
        console.print(f"{'if judged by sequential' if other else 'warning'}: {warning}", markup=False, soft_wrap=True)


def _assumptions(
    experiment: Experiment, traffic: Traffic, rps: float | None, error_rate: float | None, slow_share: float | None
) -> list[str]:
    """What the plan assumed because neither the user nor an embedded mesh's profile said it."""
    from rollout.spec.traffic import LocalMeshSpec

    if isinstance(experiment.spec.mesh, LocalMeshSpec):
        return []
    assumed = [
        what
        for what, given in (
            (f"{traffic.request_rate:g} req/s (--rps)", rps),
            (f"a stable error rate of {100 * traffic.error_rate:g}% (--error-rate)", error_rate),
            (
                f"{100 * next(iter(traffic.exceedance.values()), 0.0):g}% of stable's requests slower than each "
                "latency edge (--slow-share)",
                slow_share if traffic.exceedance else 0.0,
            ),
        )
        if given is None
    ]
    return [f"assumed {', '.join(assumed)}; give your service's numbers with those options"] if assumed else []


def _share_notes(experiment: Experiment, traffic: Traffic) -> list[str]:
    """The canary's share of requests the plan took: a mirror's copies, an A/B cohort's assumed size, and
    what makes a canary's share larger than its weights (or, with stable's users pinned, smaller as they
    grow), which the plan assumes."""
    from rollout.preflight import AB_COHORT_PERCENT
    from rollout.spec.traffic import LocalMeshSpec

    strategy = experiment.spec.strategy
    if strategy is not None and strategy.mirror is not None:
        copies = traffic.request_rate * strategy.mirror.percent / 100
        return [
            f"the canary serves copies of {strategy.mirror.percent:g}% of the requests: stable serves "
            f"{traffic.request_rate:g} req/s and the canary {copies:g} ({traffic.request_rate + copies:g} in all)"
        ]
    if strategy is not None and strategy.ab_test is not None and not isinstance(experiment.spec.mesh, LocalMeshSpec):
        return [f"assumed the cohort is {AB_COHORT_PERCENT:g}% of the requests (abTest.match does not say how many)"]
    canary = strategy.canary if strategy is not None else None
    affinity = canary.session_affinity if canary is not None else None
    pinned = affinity is not None and affinity.primary_cookie_name is not None
    why = [
        what
        for what, on in (
            ("its cohort always reaches it", canary is not None and canary.cohort is not None),
            ("sticky users keep returning to it", affinity is not None and not pinned),
        )
        if on
    ]
    trails = (
        "the canary's share of requests trails its weights as they grow (sticky users keep the arm they were "
        "first sent to: the canary's stay on the canary, stable's on stable with primaryCookieName)"
    )
    if why and pinned:  # one pulls the share up, the other down: the plan cannot say which wins
        return [
            f"{trails}, while {' and '.join(why)}; the plan counts the weights alone, so a run may detect and "
            "promote sooner or later than these times"
        ]
    if why:
        return [
            f"the canary gets more than its weights' share of requests ({' and '.join(why)}); the plan counts the "
            "weights alone, so a run detects and promotes sooner than these times"
        ]
    if pinned:
        return [f"{trails}; the plan counts the weights alone, so a run detects and promotes later than these times"]
    return []


def _other_engine_note(file: Path, engine: str, experiment: Experiment) -> str:
    """What ``plan`` can say of an experiment judged by the kayenta or threshold engine, or a plugin."""
    from analysis.planning import duration_text
    from analysis.threshold import FAILURE_THRESHOLD
    from rollout.plan import run_plan

    schedule = run_plan(experiment)
    end = duration_text(max(len(schedule.weights), 1) * schedule.step_interval)
    how = {
        "threshold": "checks fixed ranges on the canary alone, so it promotes when the schedule ends ({end}) with "
        f"every range held and rolls back after {FAILURE_THRESHOLD} failed checks, however much traffic there is",
        "kayenta": "scores the canary against stable with Kayenta's fixed-horizon tests at each judgement (repeated "
        "looks raise its false rollbacks: docs/bench-results.md) and reaches a verdict by the end of the schedule "
        "({end})",
    }.get(
        engine,
        "is an installed plugin whose decisions meshroll cannot predict (measure it with 'meshroll bench analysis "
        f"--engine {engine}'); the schedule ends after {{end}}",
    ).format(end=end)
    return (
        f"note: {file} is judged by the {engine} engine, which {how}. The estimates below are what the "
        "sequential engine (analysis.engine: sequential) would need at the same traffic."
    )


bench_app = typer.Typer(help="Measure the engines on replayed scenarios; prints tables.", no_args_is_help=True)


@bench_app.command("analysis")
def bench_analysis(
    replays: Annotated[int, typer.Option(help="Replays per scenario class.", min=1)] = 200,
    scenarios: Annotated[
        Path | None, typer.Option(help="Replay scenarios from this folder (docs/bench-scenarios.md) instead.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Also write bench.md, bench.json and a PNG plot here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the scenario generator.")] = 0,
    engine: Annotated[
        list[str] | None,
        typer.Option(
            "--engine", help="Engines to compare (default: all, with the oracle SPRT); a plugin's name works too."
        ),
    ] = None,
    error_absolute_margin: Annotated[
        float | None, typer.Option(help="The sequential engine's absoluteMargin on the error rate (e.g. 0.002).")
    ] = None,
    sweep: Annotated[
        bool,
        typer.Option(
            help="Also run each engine family at other sensitivities (sequential@alpha=0.05, naive@alpha=1e-4, ...) "
            "to compare them at matched false-rollback rates."
        ),
    ] = False,
) -> None:
    """Replay identical scenarios through every engine: false rollbacks, detection time, blast radius."""
    from analysis.bench.report import format_markdown
    from analysis.bench.runner import run_bench
    from analysis.bench.scenario_io import ScenarioFormatError
    from analysis.engines import UnknownEngineError

    if scenarios is not None and not scenarios.is_dir():
        fail(f"{scenarios}: not a folder of scenario files (see docs/bench-scenarios.md)")
    from analysis.bench.replay import BenchConfig
    from analysis.bench.runner import BenchPlan

    if error_absolute_margin is not None and not 0 < error_absolute_margin < 1:
        fail("--error-absolute-margin is a share of requests within (0, 1), e.g. 0.002 for 0.2 points")
    plan = BenchPlan(bench=BenchConfig(error_absolute_margin=error_absolute_margin))
    engines = _bench_engines(engine, sweep)
    if out is not None:
        check_writable(out, "--out")
    try:
        result = run_bench(replays=replays, scenarios_dir=scenarios, out_dir=out, seed=seed, engines=engines, plan=plan)
    except (ScenarioFormatError, UnknownEngineError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"--out {out}: cannot write the results ({exc.strerror or exc})")
    console.print(format_markdown(result), markup=False, soft_wrap=True)  # its last line lists the files written


@bench_app.command("status")
def bench_status(
    days: Annotated[
        list[float] | None, typer.Option("--days", help="Run lengths to measure, in days (default: 1, 7 and 30).")
    ] = None,
    metrics: Annotated[int, typer.Option(help="Metrics judged at every interval.", min=1, max=200)] = 20,
    interval: Annotated[float, typer.Option(help="Seconds between judgements.", min=1.0, max=86400.0)] = 60.0,
) -> None:
    """How large an Experiment's stored status grows over a long run, and what writing and reading it costs."""
    from rollout.kube.status_size import API_SERVER_LIMIT, measure

    horizons = days or [1.0, 7.0, 30.0]
    if any(not 0 < d <= 90 for d in horizons):
        fail("--days takes run lengths within (0, 90]")
    lines = [
        f"# stored .status: {metrics} metrics judged every {interval:g} s",
        "",
        "| run | judged | numbered | whole history | thinned | stored | fits | write | read |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    console.print("\n".join(lines), markup=False, soft_wrap=True)
    for d in horizons:
        size = measure(d, metrics, interval)
        console.print(
            f"| {d:g} d | {size.judgements:,} | {size.with_numbers:,} | {_megabytes(size.whole_bytes)} | "
            f"{_megabytes(size.thinned_bytes)} | {_megabytes(size.stored_bytes)} | {'yes' if size.fits else 'no'} | "
            f"{size.write_ms:,.0f} ms | {size.read_ms:,.0f} ms |",
            markup=False,
            soft_wrap=True,
        )
    console.print(
        f"\njudged: judgements in the run; numbered: those that keep their per-metric numbers (the moves, each "
        f"step's last, the newest 20); whole history: with every judgement's numbers (estimated); thinned: "
        f"numbered as above; stored: the .status written, entries past the newest 300 packed; fits: under the "
        f"{API_SERVER_LIMIT / 1e6:.2f} MB the API server takes per object; write/read: compose/parse, median of 3.",
        markup=False,
        soft_wrap=True,
    )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def _bench_engines(names: list[str] | None, sweep: bool) -> list[str]:
    """The engines to compare; a name no engine answers to stops here, with the accepted names."""
    from analysis.bench.runner import DEFAULT_ENGINES
    from analysis.bench.variants import SWEEP, VariantError, parse_variant
    from analysis.engines import ENGINE_NAMES, GROUP, EngineError, engine_for, plugin_names
    from analysis.plugins import installed

    chosen = list(names or DEFAULT_ENGINES)
    plugins = plugin_names()
    for name in chosen:
        if "@" in name:
            try:
                parse_variant(name)
            except VariantError as exc:
                fail(str(exc))
        elif name in plugins or name in installed(ENGINE_NAMES).ambiguous:
            try:
                engine_for(name)  # a plugin that cannot load stops here, not as a skipped row
            except EngineError as exc:
                fail(f"--engine {name}: {exc}")
        elif name not in DEFAULT_ENGINES:
            fail(
                f"--engine {name}: unknown engine; use one of {', '.join([*DEFAULT_ENGINES, *plugins])}, a variant "
                f"such as {SWEEP[1]}, or install the package of the plugin that provides it (group {GROUP})"
            )
    return chosen + [v for v in SWEEP if sweep and v not in chosen]


def register(app: typer.Typer) -> None:
    from rollout.cli.engine_commands import engines, sources

    app.add_typer(bench_app, name="bench")
    app.command()(engines)
    app.command()(sources)
    app.command()(plan)
    app.add_typer(oracle_app, name="oracle")
    app.command()(report)
