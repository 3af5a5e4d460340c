"""Commands around the decision engines: oracle, bench (plan: ``plan_command``, report: ``report_command``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rollout.cli.output import check_writable, console, fail, option_seconds
from rollout.spec.durations import format_duration

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
    interval: Annotated[
        str, typer.Option(help="Time between judgements, like 60s or 5m (a bare number is seconds).")
    ] = "60s",
) -> None:
    """How large an Experiment's stored status grows over a long run, and what writing and reading it costs."""
    from rollout.kube.status_size import API_SERVER_LIMIT, measure

    every = option_seconds(interval, "--interval")
    if not 1 <= every <= 86400:
        fail(f"--interval {interval!r}: judge between once a second and once a day (1s to 1d)")
    horizons = days or [1.0, 7.0, 30.0]
    if any(not 0 < d <= 90 for d in horizons):
        fail("--days takes run lengths within (0, 90]")
    lines = [
        f"# stored .status: {metrics} metrics judged every {format_duration(every)}",
        "",
        "| run | judged | numbered | whole history | thinned | stored | fits | write | read |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    console.print("\n".join(lines), markup=False, soft_wrap=True)
    for d in horizons:
        size = measure(d, metrics, every)
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
    from rollout.cli.plan_command import plan
    from rollout.cli.report_command import report

    app.add_typer(bench_app, name="bench")
    app.command()(engines)
    app.command()(sources)
    app.command()(plan)
    app.add_typer(oracle_app, name="oracle")
    app.command()(report)
