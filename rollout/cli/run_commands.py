"""``meshroll run`` and ``meshroll demo``."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

import rollout
from rollout.cli.output import check_output_file, console, err_console, fail, warnings_to_stderr
from rollout.cli.prometheus_options import CaFile, Headers, Insecure, PrometheusAccess, Timeout
from rollout.cli.view import RunView
from rollout.errors import RolloutError
from rollout.events import Judged
from rollout.spec.loader import SpecError, load_file
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
    """The one Experiment in ``file``; a spec problem, or a file with several, ends in one line. Its notes
    (``rollout.spec.notes``) are printed as warnings, as ``meshroll validate`` prints them."""
    try:
        loaded = load_file(file)
    except SpecError as exc:
        first = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more; run 'meshroll validate {file}')" if len(exc.problems) > 1 else ""
        fail(f"{first}{more}")
    experiments = loaded.experiments
    if len(experiments) > 1:
        names = ", ".join(e.key for e in experiments)
        fail(f"{file}: holds {len(experiments)} experiments ({names}); give a file with one (split it at its ---)")
    for note in loaded.notes:
        err_console.print(f"warning: {note}", markup=False, soft_wrap=True)
    return experiments[0]


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


AFTER_IGNORED = (
    "spec.after is ignored here: the embedded mesh runs this one experiment alone, with no other Experiment to "
    "wait for; meshroll controller orders the starts in a cluster"
)


def run_outputs(
    experiment: Experiment, journal: Path | None, report: Path | None, *, no_report: bool
) -> tuple[Path | None, Path | None]:
    """The run's journal and report paths with their defaults (None: not written)."""
    name = experiment.metadata.name
    if journal is not None and experiment.spec.chaos is None:
        note = "the experiment injects no faults (no spec.chaos), so no journal is written"
        console.print(f"note: --journal {journal}: {note}", markup=False, soft_wrap=True)
        journal = None
    elif journal is None and experiment.spec.chaos is not None:
        journal = Path(f"meshroll-journal-{name}.json")
    if no_report:
        return journal, None
    return journal, report or Path(f"meshroll-report-{name}.html")


def check_outputs(experiment_file: Path, outputs: dict[str, Path | None]) -> None:
    """Before a run: every output can be written, and none would replace the experiment or another output."""
    taken = {experiment_file.resolve(): "the experiment file itself"}
    for option, path in outputs.items():
        if path is None:
            continue
        where = path.resolve()
        if where in taken:
            fail(f"{option} {path}: is {taken[where]}; give each output a file of its own")
        check_output_file(path, option)
        taken[where] = f"also {option}"


def run(
    file: Annotated[Path, typer.Argument(help="The experiment YAML (provider local).")],
    status_out: Annotated[Path | None, typer.Option(help="Write the status (with its history) here as JSON.")] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help=(
                "Seed for the embedded mesh's random draws (errors, latencies, routing; default: a new one each "
                "run). The load is paced by the clock, so two runs with one seed are alike, not identical."
            )
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Where to write the HTML report (default: meshroll-report-NAME.html).")
    ] = None,
    no_report: Annotated[bool, typer.Option("--no-report", help="Write no HTML report.")] = False,
    prometheus: Annotated[str | None, typer.Option(help=PROMETHEUS_HELP)] = None,
    prometheus_header: Headers = None,
    prometheus_ca_file: CaFile = None,
    prometheus_insecure: Insecure = False,
    prometheus_timeout: Timeout = 10.0,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_PORT_HELP)] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Where to write the chaos journal (default: meshroll-journal-NAME.json).")
    ] = None,
) -> None:
    """Run an experiment on the embedded mesh.

    Exit 0 promoted (or completed), 2 rolled back or halted, 3 inconclusive (or paused for an operator,
    whom a local run does not have), 1 error or interrupted (Ctrl-C aborts to 100% stable with no faults;
    130 before the run began).
    """
    from rollout.cli.prometheus_commands import checked_prometheus, refuse_prometheus_beside_a_plugin

    warnings_to_stderr()

    if no_report and report is not None:
        fail("--report and --no-report contradict each other; give one of them")
    experiment = load_or_fail(file)
    if experiment.spec.after and experiment.spec.mesh.provider == "local":
        console.print(f"note: {AFTER_IGNORED}", markup=False, soft_wrap=True)
    router_port = getattr(experiment.spec.mesh, "port", 0)
    if metrics_port is not None and router_port and metrics_port == router_port:
        fail(f"--metrics-port {metrics_port} is the router's port (spec.mesh.port); pick another")
    refuse_prometheus_beside_a_plugin(prometheus, experiment)
    access = PrometheusAccess.of(prometheus_header, prometheus_ca_file, prometheus_insecure, prometheus_timeout)
    config = checked_prometheus(prometheus, metrics_port, getattr(experiment.spec.mesh, "metrics_port", 0), access)
    journal, report = run_outputs(experiment, journal, report, no_report=no_report)
    check_outputs(file, {"--status-out": status_out, "--journal": journal, "--report": report})
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
    if report is not None:
        _write_report(result, experiment.key, report)
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
            evidence = f", e-value {number(m.e_value)}{m.mean_of}" if m.e_value is not None else ""
            return f"{m.subject}: {ratio}{evidence}"
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
    seed: Annotated[
        int,
        typer.Option(
            help=(
                "Seed for the embedded mesh's random draws (errors, latencies, routing). The load is paced by the "
                "clock, so two runs with one seed are alike, not identical."
            )
        ),
    ] = 1,
    prometheus: Annotated[str | None, typer.Option(help=PROMETHEUS_HELP)] = None,
    prometheus_header: Headers = None,
    prometheus_ca_file: CaFile = None,
    prometheus_insecure: Insecure = False,
    prometheus_timeout: Timeout = 10.0,
    metrics_port: Annotated[int | None, typer.Option(help=METRICS_PORT_HELP)] = None,
) -> None:
    """Run the whole loop with no setup: embedded mesh, load, analysis, decisions.

    Each scenario's HTML report is written to meshroll-demo/ in the temporary folder (replaced at each
    demo). Exit 0 once the scenarios ran (the erroring canary's rollback is the demo working); with
    --scenario, that run's own code, as meshroll run's (0 promoted, 2 rolled back, 3 inconclusive); 1 on
    an error or Ctrl-C.
    """
    from rollout.cli.prometheus_commands import checked_prometheus

    warnings_to_stderr()

    access = PrometheusAccess.of(prometheus_header, prometheus_ca_file, prometheus_insecure, prometheus_timeout)
    config = checked_prometheus(prometheus, metrics_port, access=access)
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
        folder = Path(tempfile.gettempdir()) / "meshroll-demo"
        _write_report(result, f"demo {chosen.value}", folder / f"{chosen.value}.html")  # then the outcome, as run
        if not result.interrupted:  # an interrupted one ends in its line on stderr, once
            console.print(_final_line(result), markup=False, soft_wrap=True)
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
