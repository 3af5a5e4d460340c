"""``meshroll analyze``: would this canary have been rolled back? The experiment's metrics and engine,
judged step by step on past data from Prometheus. Also the ``--prometheus`` plumbing of run and demo."""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli.output import console, fail
from rollout.cli.prometheus_options import AnalyzeTimeout, CaFile, Headers, Insecure, PrometheusAccess
from rollout.spec.durations import parse_duration
from rollout.spec.models import Experiment

if TYPE_CHECKING:
    from analysis.observations import MetricPair
    from analysis.prometheus import PrometheusConfig, PrometheusSource
    from analysis.sources import MetricQuery, MetricSource
    from analysis.verdicts import Decision

TOKEN_ENV = "MESHROLL_PROMETHEUS_TOKEN"
MAX_STEPS = 2000
EXIT_PROMOTE, EXIT_ROLLBACK, EXIT_UNDECIDED = 0, 2, 3
LATEST_TIME = datetime(9999, 12, 31, tzinfo=UTC).timestamp()
_RELATIVE = re.compile(r"^(?:now)?\s*-\s*(.+)$")


class TimeError(ValueError):
    """A time argument in none of the accepted forms."""


def parse_time(text: str, now: float) -> float:
    """Seconds since the epoch from RFC 3339 (``2026-11-03T10:00:00Z``), epoch seconds
    (``1793700000``), ``now``, or a time before now (``-30m``, ``now-1h30m``)."""
    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative is not None:
        try:
            seconds = now - parse_duration(relative.group(1).strip())
        except ValueError as exc:
            raise TimeError(f"{text!r} is not a relative time ({exc}); write it like -30m or now-1h30m") from None
    else:
        try:
            seconds = float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else _rfc3339(value)
        except ValueError as exc:
            raise TimeError(
                f"{text!r} is not a time: use RFC 3339 (2026-11-03T10:00:00Z), epoch seconds, or -30m ({exc})"
            ) from None
    if not 0 <= seconds <= LATEST_TIME:
        raise TimeError(f"{text!r} is out of range; give a time between 1970-01-01 and 9999-12-31")
    return seconds


def _rfc3339(value: str) -> float:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("give its time zone, Z or +01:00")
    return parsed.timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_config(
    url: str,
    *,
    headers: list[str] | None = None,
    ca_file: Path | None = None,
    insecure: bool = False,
    timeout: float = 10.0,
) -> PrometheusConfig:
    """A PrometheusConfig from command-line values (the token from $MESHROLL_PROMETHEUS_TOKEN); exits on bad ones."""
    from analysis.prometheus import PrometheusConfig, PrometheusConfigError

    if ca_file is not None and not ca_file.exists():
        fail(f"--prometheus-ca-file {ca_file}: no such file; give the CA bundle (PEM) of Prometheus's certificate")
    pairs: list[tuple[str, str]] = []
    for header in headers or []:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            fail(f"--prometheus-header {header!r} is not NAME:VALUE (e.g. X-Scope-OrgID:shop)")
        pairs.append((name.strip(), value.strip()))
    try:
        return PrometheusConfig(
            url,
            token=os.environ.get(TOKEN_ENV) or None,
            headers=tuple(pairs),
            ca_file=str(ca_file) if ca_file is not None else None,
            insecure=insecure,
            timeout=timeout,
        )
    except PrometheusConfigError as exc:
        fail(f"--prometheus: {exc}")


def connect(config: PrometheusConfig) -> PrometheusSource:
    """A source whose Prometheus answered a trivial query; exits with the reason otherwise."""
    from analysis.prometheus import PrometheusSource
    from analysis.sources import MetricsUnavailableError

    source = PrometheusSource(config)
    try:
        source.check()
    except MetricsUnavailableError as exc:
        fail(str(exc))
    return source


def refuse_prometheus_beside_a_plugin(url: str | None, experiment: Experiment) -> None:
    """One line when ``--prometheus`` is given for an experiment whose metrics come from a source plugin."""
    named = experiment.source_plugin
    if url is not None and named is not None:
        fail(
            f"--prometheus: the experiment reads its metrics from the metric source {named!r} "
            "(spec.analysis.source), not Prometheus; drop --prometheus, or the source"
        )


def access_config(url: str | None, access: PrometheusAccess) -> PrometheusConfig | None:
    """The config for ``--prometheus URL`` reached as ``access`` says (None without a URL; the access options
    given without one are one line)."""
    if url is None:
        if access != PrometheusAccess():
            fail("--prometheus-header, --prometheus-ca-file, --prometheus-insecure and --prometheus-timeout are "
                 "for --prometheus URL; give it, or drop them")  # fmt: skip
        return None
    return build_config(
        url, headers=list(access.headers), ca_file=access.ca_file, insecure=access.insecure, timeout=access.timeout
    )


def checked_prometheus(
    url: str | None, metrics_port: int | None = None, spec_port: int = 0, access: PrometheusAccess | None = None
) -> PrometheusConfig | None:
    """For ``run`` and ``demo``: the config for ``--prometheus URL`` once Prometheus answers (None without one).
    ``spec_port`` is the experiment's ``spec.mesh.metricsPort`` (0: none, a port chosen at random)."""
    if metrics_port is not None and not 1 <= metrics_port <= 65535:
        fail(f"--metrics-port must be within 1..65535, got {metrics_port}")
    config = access_config(url, access or PrometheusAccess())
    if config is None:
        return None
    if metrics_port is None and not spec_port:
        fail(
            "--prometheus: the mesh's /metrics port is chosen at random, so no Prometheus scrapes it; "
            "give --metrics-port N, a port your Prometheus scrapes"
        )
    connect(config).close()
    return config


# --------------------------------------------------------------------------------------------
# analyze


@dataclass(frozen=True)
class StepResult:
    index: int
    start: float
    end: float
    decision: Decision | None  # None: no data in the step


def metric_queries(experiment: Experiment) -> list[MetricQuery]:
    """The metrics to read, as the orchestrator reads them."""
    from analysis.sources import MetricQuery
    from rollout.judging import metric_kind

    analysis = experiment.spec.analysis
    if analysis is None:
        return []
    custom = {t.name: t.queries() for t in analysis.templates}
    return [
        MetricQuery(m.name, m.template, metric_kind(analysis, m.template), custom.get(m.template, {}))
        for m in analysis.metrics
    ]


def canary_share(pairs: dict[str, MetricPair]) -> float:
    """The canary's share of requests (percent): past traffic has no recorded weight. Counts that are
    infinite or negative (bad data, which the engine reports per metric) are not a share."""
    for pair in pairs.values():
        stable, canary = pair.stable.requests, pair.canary.requests
        if not (math.isfinite(stable) and math.isfinite(canary) and stable >= 0 and canary >= 0):
            continue
        total = stable + canary
        if 0 < total < math.inf:  # two finite counts near the float limit can add up to inf
            return 100.0 * canary / total
    return 0.0


def _print_step(result: StepResult, steps: int, pairs: dict[str, MetricPair] | None) -> None:
    from rollout.judging import numbers
    from rollout.trail import metric_line

    head = f"step {result.index + 1}/{steps} {_iso(result.start)} .. {_iso(result.end)}"
    if result.decision is None or pairs is None:
        console.print(f"{head}: no data (a run would hold and spend its failure budget)", markup=False)
        return
    share = canary_share(pairs)
    decision = result.decision
    console.print(
        f"{head} canary share {share:.1f}%: {decision.outcome.value.upper()}: {decision.reason}",
        markup=False,
        soft_wrap=True,
    )
    for verdict in decision.metrics:
        console.print(f"    - {metric_line(numbers(verdict), decision.engine)}", markup=False, soft_wrap=True)


def analyze(
    file: Annotated[Path, typer.Argument(help="The experiment YAML whose metrics and engine to use.")],
    from_: Annotated[str, typer.Option("--from", help="Start: RFC 3339, epoch seconds, or relative (-2h).")],
    to: Annotated[str, typer.Option("--to", help="End: RFC 3339, epoch seconds, relative (-5m) or now.")] = "now",
    step: Annotated[str | None, typer.Option(help="Step length (default: the experiment's stepInterval).")] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Prometheus base URL, e.g. http://prometheus:9090 (not needed when spec.analysis.source names a "
            "metric-source plugin).",
        ),
    ] = None,
    header: Headers = None,
    ca_file: CaFile = None,
    insecure: Insecure = False,
    timeout: AnalyzeTimeout = 10.0,
) -> None:
    """Judge past data: would this canary have been rolled back? Exit 0 no (it would advance),
    2 yes (rolled back), 3 undecided, 1 error. The bearer token comes from $MESHROLL_PROMETHEUS_TOKEN."""
    from rollout.cli.run_commands import load_or_fail

    experiment = load_or_fail(file)
    if experiment.spec.analysis is None:
        fail(f"{file}: the experiment has no spec.analysis, so there are no metrics to judge")
    if experiment.spec.strategy is None:
        fail(f"{file}: a chaos-only experiment has no canary to judge; analyze judges a canary against stable")
    now = time.time()
    try:
        start, end = parse_time(from_, now), parse_time(to, now)
    except TimeError as exc:
        fail(f"--from/--to: {exc}")
    if end <= start:
        fail(f"--to ({_iso(end)}) must come after --from ({_iso(start)})")
    from rollout.plan import run_plan

    try:
        step_s = parse_duration(step) if step is not None else run_plan(experiment).step_interval
    except ValueError as exc:
        fail(f"--step: {exc}")
    if step_s <= 0:
        fail("--step must be longer than 0s")
    count = math.floor((end - start) / step_s + 1e-9)
    if count < 1:
        fail(f"the span {_iso(start)} .. {_iso(end)} is shorter than one step ({step_s:g}s); widen it or use --step")
    if count > MAX_STEPS:
        fail(f"{count} steps of {step_s:g}s is more than {MAX_STEPS}; use a larger --step or a shorter span")
    from analysis.metric_sources import plugin_source
    from analysis.plugins import EngineError

    refuse_prometheus_beside_a_plugin(prometheus, experiment)
    if (named := experiment.source_plugin) is not None:
        try:
            plugin = plugin_source(named)
        except EngineError as exc:
            fail(f"{file}: spec.analysis.source: {exc}")
        raise typer.Exit(replay(experiment, plugin, start, step_s, count))
    if prometheus is None:
        fail("--prometheus URL is needed: the experiment's metrics come from Prometheus (spec.analysis.source)")
    source = connect(build_config(prometheus, headers=header, ca_file=ca_file, insecure=insecure, timeout=timeout))
    code = replay(experiment, source, start, step_s, count)
    source.close()
    raise typer.Exit(code)


def replay(experiment: Experiment, source: MetricSource, start: float, step_s: float, count: int) -> int:
    """Collect and judge ``count`` steps from ``start``; print the trail; return the exit code."""
    from analysis.engines import EngineError, engine_for
    from analysis.observations import StepWindow
    from analysis.sources import MetricsUnavailableError
    from analysis.verdicts import Outcome
    from rollout.judging import engine_config, step_span

    analysis = experiment.spec.analysis
    assert analysis is not None
    try:
        judge = engine_for(analysis.engine)
    except EngineError as exc:  # a plugin that loaded at validation and fails now
        fail(f"spec.analysis.engine: {exc}")
    config, queries = engine_config(experiment), metric_queries(experiment)
    target = experiment.spec.target
    namespace = experiment.metadata.namespace
    console.print(
        f"analyze {experiment.key}: {target.service} {target.stable.version} vs {target.canary.version} in "
        f"{namespace}, engine {analysis.engine}, {count} steps of {step_s:g}s from {_iso(start)}",
        markup=False,
        soft_wrap=True,
    )
    windows: list[StepWindow] = []
    last: Decision | None = None
    for index in range(count):
        begin, finish = start + index * step_s, start + (index + 1) * step_s
        span = step_span(experiment, begin, finish, namespace=namespace)
        try:
            pairs = source.collect(span, queries)
        except MetricsUnavailableError as exc:
            fail(f"step {index + 1}: {exc}")
        if not pairs:
            _print_step(StepResult(index, begin, finish, None), count, None)
            continue
        windows.append(StepWindow(len(windows), begin, finish, canary_share(pairs), pairs))
        last = judge.judge(windows, config, final=index == count - 1)
        _print_step(StepResult(index, begin, finish, last), count, pairs)
        if last.outcome is Outcome.ROLLBACK:
            console.print(f"verdict: would have been ROLLED BACK at step {index + 1} ({_iso(finish)})", markup=False)
            return EXIT_ROLLBACK
    if last is None:
        named = experiment.source_plugin
        where = "Prometheus" if named is None else f"the metric source {named!r}"
        fail(
            f"{where} has no data for {target.service} ({target.stable.version}, {target.canary.version}) in "
            f"{namespace} between {_iso(start)} and {_iso(start + count * step_s)}: check the span, the names "
            f"and that {'Prometheus scrapes them' if where == 'Prometheus' else 'its backend holds them'}"
        )
    if last.outcome is Outcome.ADVANCE:
        console.print("verdict: no rollback; the evidence shows the canary is not worse (it would advance)")
        return EXIT_PROMOTE
    console.print(f"verdict: no rollback, but no proof either ({last.outcome.value}): {last.reason}", markup=False)
    return EXIT_UNDECIDED


def register(app: typer.Typer) -> None:
    app.command()(analyze)
