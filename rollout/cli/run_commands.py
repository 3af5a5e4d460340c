"""``meshroll run`` and ``meshroll demo``."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

import rollout
from rollout.cli.output import check_writable, console, fail
from rollout.cli.view import RunView
from rollout.errors import RolloutError
from rollout.events import Judged
from rollout.spec.loader import SpecError, load_experiment
from rollout.spec.models import Experiment

if TYPE_CHECKING:
    from analysis.prometheus import PrometheusConfig
    from rollout.runner import RunResult
    from rollout.status import Status

OUTCOME_WORDS = {0: "promoted", 2: "rolled back", 3: "inconclusive", 1: "error"}
PROMETHEUS_HELP = (
    "Judge the steps from this Prometheus (base URL; token from $MESHROLL_PROMETHEUS_TOKEN). "
    "It must scrape the mesh's metrics: fix their port with --metrics-port."
)
METRICS_PORT_HELP = "Serve the mesh's /metrics on this 127.0.0.1 port (for a Prometheus to scrape)."


def load_or_fail(file: Path) -> Experiment:
    try:
        return load_experiment(file)
    except SpecError as exc:
        first = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more; run 'meshroll validate {file}')" if len(exc.problems) > 1 else ""
        fail(f"{first}{more}")


def execute(
    experiment: Experiment,
    *,
    seed: int | None,
    status_out: Path | None,
    title: str,
    prometheus: PrometheusConfig | None = None,
    metrics_port: int | None = None,
    journal: Path | None = None,
) -> RunResult:
    from rollout.runner import run_local  # imports the engines (scipy): only when running

    def announce(url: str) -> None:
        if prometheus is not None or metrics_port is not None:
            source = f"; judging from Prometheus at {prometheus.display_url}" if prometheus else ""
            console.print(f"mesh metrics: {url}{source}", markup=False, soft_wrap=True)

    with RunView(console, title) as view:
        try:
            result = run_local(
                experiment,
                seed=seed,
                status_out=status_out,
                on_change=view.on_change,
                prometheus=prometheus,
                metrics_port=metrics_port,
                on_ready=announce,
                journal=journal,
            )
        except RolloutError as exc:
            fail(str(exc))
    return result


def _final_line(result: RunResult) -> str:
    status = result.status
    if result.interrupted:
        router = "router at 100% stable, no faults" if result.router_safe else "router state unknown"
        return f"aborted by {result.interrupted}: {router}"
    return f"{status.phase.value}: {status.reason}"


def _write_report(result: RunResult, title: str, path: Path) -> None:
    from rollout.report import write_report

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"report: {write_report(result.status, title, path)}", markup=False)
    except OSError as exc:
        console.print(f"report not written to {path}: {exc.strerror or exc}", markup=False)


def run(
    file: Annotated[Path, typer.Argument(help="The experiment YAML (provider local).")],
    status_out: Annotated[Path | None, typer.Option(help="Write the status (with its history) here as JSON.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the embedded mesh's random draws.")] = None,
    report: Annotated[
        Path | None, typer.Option(help="Where to write the HTML report (default: meshroll-report-NAME.html).")
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no HTML report.")] = False,
    prometheus: Annotated[str | None, typer.Option(help=PROMETHEUS_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_PORT_HELP)] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Where to write the chaos journal (default: meshroll-journal-NAME.json).")
    ] = None,
) -> None:
    """Run an experiment on the embedded mesh.

    Exit 0 promoted (or completed), 2 rolled back or halted, 3 inconclusive, 1 error.
    """
    from rollout.cli.prometheus_commands import checked_prometheus

    experiment = load_or_fail(file)
    config = checked_prometheus(prometheus, metrics_port)
    if journal is None and experiment.spec.chaos is not None:
        journal = Path(f"meshroll-journal-{experiment.metadata.name}.json")
    for option, path in (("--status-out", status_out), ("--journal", journal)):
        if path is not None:
            if path.is_dir():
                fail(f"{option} {path}: is a folder; give the path of a file (in it or elsewhere)")
            check_writable(path.parent, option)
    result = execute(
        experiment,
        seed=seed,
        status_out=status_out,
        title=experiment.key,
        prometheus=config,
        metrics_port=metrics_port,
        journal=journal,
    )
    if journal is not None and journal.exists():
        console.print(f"journal: {journal}", markup=False)
    if not no_report:
        _write_report(result, experiment.key, report or Path(f"meshroll-report-{experiment.metadata.name}.html"))
    line = _final_line(result)
    if result.exit_code == 1:
        fail(line)
    console.print(line, markup=False, soft_wrap=True)
    raise typer.Exit(result.exit_code)


class Scenario(StrEnum):
    HEALTHY = "healthy"
    SLOW_CANARY = "slow-canary"
    ERRORING_CANARY = "erroring-canary"


def decided_by(status: Status) -> str:
    """What decided the run, short enough for a table cell (the whole reason is printed above it)."""
    from analysis.sequential.explain import number

    judged = next((e.event for e in reversed(status.history) if isinstance(e.event, Judged)), None)
    if judged is not None and judged.outcome == "rollback":
        culprits = [m for m in judged.metrics if m.outcome == "rollback"]
        if culprits:
            m = culprits[0]
            ratio = f"ratio {number(m.estimate)}" if m.estimate is not None else "regressed"
            evidence = f", e-value {number(m.e_value)}" if m.e_value is not None else ""
            return f"{m.metric}: {ratio}{evidence}"
    if judged is not None and judged.outcome == "advance" and judged.metrics:
        return f"all {len(judged.metrics)} metrics non-inferior"
    first = status.reason.split("; ")[0].split(": ", 1)[-1]  # without "rollback: ", "halted: " ...
    return first if len(first) <= 48 else first[:45] + "..."


def demo_file(scenario: Scenario) -> Path:
    folder = Path(rollout.__file__).resolve().parent.parent / "experiments"
    path = folder / f"demo-{scenario.value}.yaml"
    if not path.exists():
        fail(f"the demo experiment {path} is missing; install meshroll from its source folder (pip install -e .)")
    return path


def demo(
    scenario: Annotated[
        Scenario | None, typer.Option(help="One scenario; with none, healthy then erroring-canary.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the embedded mesh's random draws.")] = 1,
    prometheus: Annotated[str | None, typer.Option(help=PROMETHEUS_HELP)] = None,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_PORT_HELP)] = None,
) -> None:
    """Run the whole loop with no setup: embedded mesh, load, analysis, decisions."""
    from rollout.cli.prometheus_commands import checked_prometheus

    config = checked_prometheus(prometheus, metrics_port)
    scenarios = [scenario] if scenario is not None else [Scenario.HEALTHY, Scenario.ERRORING_CANARY]
    rows = []
    for chosen in scenarios:
        experiment = load_or_fail(demo_file(chosen))
        console.rule(f"demo: {chosen.value}")
        result = execute(
            experiment,
            seed=seed,
            status_out=None,
            title=f"demo {chosen.value}",
            prometheus=config,
            metrics_port=metrics_port,
        )
        if not result.interrupted:  # an interrupted one ends in its line on stderr, once
            console.print(_final_line(result), markup=False, soft_wrap=True)
        folder = Path(tempfile.gettempdir()) / "meshroll-demo"
        _write_report(result, f"demo {chosen.value}", folder / f"{chosen.value}.html")
        if result.interrupted:
            fail(_final_line(result))
        rows.append((chosen.value, result))
    table = Table(title="meshroll demo")
    for column in ("scenario", "outcome", "steps", "weights", "time"):
        table.add_column(column, no_wrap=True)
    table.add_column("decided by")
    for name, result in rows:
        status = result.status
        elapsed = (status.updated_at or 0) - (status.started_at or 0)
        table.add_row(
            name,
            OUTCOME_WORDS.get(result.exit_code, "?"),
            str(status.step + 1),
            f"{status.traffic.stable_weight}/{status.traffic.canary_weight}",
            f"{elapsed:.0f}s",
            decided_by(status),
        )
    console.print(table)
    if scenario is not None:
        raise typer.Exit(rows[0][1].exit_code)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(demo)
