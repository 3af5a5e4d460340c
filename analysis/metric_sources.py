"""Metric-source plugins: observations from a backend other than Prometheus (Datadog, New Relic,
CloudWatch, a team's own API), offered by installed packages under the entry-point group
``meshroll.sources`` and picked by ``analysis.source: NAME``.

An entry point names a zero-argument callable that returns an object with
``collect(span, metrics) -> dict[str, MetricPair]`` (``analysis/sources.py``); the plugin reads its own
settings (an address, a key from an environment variable). Every call is contained
(``ContainedSource``): an exception, a call that takes longer than ``COLLECT_SECONDS``, or an answer a run
cannot use becomes ``MetricsUnavailableError`` naming the plugin. A run treats it as it treats Prometheus
down: the weights hold, the step spends the failure budget, and the reason says the source failed, never
that the canary is bad. Data that is there but wrong (NaN, negative counts, buckets not monotone) is the
engines' to refuse, as it is from Prometheus.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import cast

from analysis.contained import as_float, detail, run_contained, safe_repr
from analysis.observations import ArmSample, MetricPair
from analysis.plugins import SOURCES, EngineError, ambiguity, installed, load_object, problem_of
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan, arms_of

SOURCE_NAMES: tuple[str, ...] = ("prometheus",)
"""The built-in source: the Prometheus the controller (or ``--prometheus``) names; without one, ``meshroll
run`` reads the embedded mesh's own counters."""
COLLECT_SECONDS = 60.0  # a backend's query can be slow; a step is at least this long in practice


class UnknownSourceError(EngineError):
    """The name is no built-in source and no installed plugin's."""


def source_plugin_names() -> tuple[str, ...]:
    """The usable metric-source plugins' names, sorted."""
    return tuple(installed(SOURCE_NAMES, SOURCES).usable)


def source_names() -> tuple[str, ...]:
    """Every name ``analysis.source`` accepts here: the built-in, then the installed plugins."""
    return SOURCE_NAMES + source_plugin_names()


def source_plugin_problems() -> tuple[str, ...]:
    """Installed source plugins that are ignored, one line each."""
    return installed(SOURCE_NAMES, SOURCES).problems


def is_builtin_source(name: str | None) -> bool:
    """Whether ``name`` (None: not given) means the built-in Prometheus source."""
    return name is None or name.strip().lower() in SOURCE_NAMES


def plugin_source(name: str) -> MetricSource:
    """A fresh, contained source from the plugin ``name``; UnknownSourceError or PluginError, one line each."""
    key = name.strip().lower()
    plugins = installed(SOURCE_NAMES, SOURCES)
    if key in plugins.usable:
        return ContainedSource(cast(MetricSource, load_object(plugins.usable[key], SOURCES)), key)
    if key in plugins.ambiguous:
        raise UnknownSourceError(ambiguity(key, plugins.ambiguous[key], SOURCES))
    raise UnknownSourceError(
        f"unknown metric source {name!r}: use one of {', '.join(source_names())}, or install the package of the "
        f"plugin that provides it (entry-point group {SOURCES.group})"
    )


def source_problem(name: str | None) -> str | None:
    """Why ``name`` cannot be read here (not installed, ambiguous, fails to load), or None when it can."""
    if is_builtin_source(name):
        return None
    assert name is not None
    return problem_of(SOURCES, name, plugin_source)


def plugin_source_or_unavailable(name: str) -> MetricSource:
    """``plugin_source(name)``, or a source whose every read fails saying why it cannot be had: for a run
    already under way whose plugin this controller lacks, which then holds and can still be aborted."""
    try:
        return plugin_source(name)
    except EngineError as exc:
        return UnavailableSource(name, str(exc))


class UnavailableSource:
    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        raise MetricsUnavailableError(
            f"the metric source {self.name!r} is not available in this controller ({self.problem})"
        )


class ContainedSource:
    """A plugin's source whose every failure is ``MetricsUnavailableError`` naming the plugin."""

    def __init__(self, inner: MetricSource, name: str, *, seconds: float = COLLECT_SECONDS) -> None:
        self.inner = inner
        self.name = name
        self.seconds = seconds
        self._running: threading.Thread | None = None  # a call that outlived its time

    def no_data(self, span: StepSpan) -> str:
        return (
            f"the metric source {self.name!r} has no data for {arms_of(span)} during the step; check what it reads "
            "and its settings"
        )

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        if self._running is not None and self._running.is_alive():
            raise self._failed(f"is still reading an earlier step after more than {self.seconds:g}s")
        asked = tuple(replace(metric, queries=dict(metric.queries)) for metric in metrics)  # its own copies
        thread, answers, failures = run_contained(
            lambda: self.inner.collect(span, asked), f"meshroll-source-{self.name}", self.seconds
        )
        if thread.is_alive():
            self._running = thread
            raise self._failed(f"did not answer within {self.seconds:g}s")
        if failures:
            failure = failures[0]
            if isinstance(failure, MetricsUnavailableError):  # the plugin's own "cannot read": its words
                raise self._failed(f"cannot read: {detail(failure).removeprefix('MetricsUnavailableError: ')}")
            raise self._failed(f"raised {detail(failure)}")
        answer = answers[0] if answers else None
        problem = answer_problem(answer, metrics)
        if problem is not None:
            raise self._failed(problem)
        return dict(cast(Mapping[str, MetricPair], answer))

    def _failed(self, what: str) -> MetricsUnavailableError:
        return MetricsUnavailableError(f"metric source plugin {self.name!r} {what}; fix its backend or the plugin")


def answer_problem(answer: object, metrics: Sequence[MetricQuery]) -> str | None:
    """What makes ``answer`` unusable as the metrics' pairs (None when a run can use it)."""
    if not isinstance(answer, Mapping):
        return f"returned an object of type {type(answer).__name__} instead of a dict of MetricPair"
    names = {metric.name for metric in metrics}
    for name, pair in answer.items():
        if not isinstance(name, str) or name not in names:
            return f"returned data for {safe_repr(name)}, which is no metric asked for"
        if not isinstance(pair, MetricPair) or not all(_sample_ok(arm) for arm in (pair.stable, pair.canary)):
            return f"returned data for {name!r} that is not a MetricPair of two ArmSamples of numbers"
    return None


def _sample_ok(arm: object) -> bool:
    if not isinstance(arm, ArmSample) or not isinstance(arm.buckets, tuple | list):
        return False
    if not isinstance(arm.gauges, tuple | list) or not all(map(_number, (arm.requests, arm.errors, *arm.gauges))):
        return False
    return all(isinstance(b, tuple | list) and len(b) == 2 and all(map(_number, b)) for b in arm.buckets)


def _number(value: object) -> bool:
    """An int or float (not a bool) that a float can hold: NaN and negatives pass here and are the engines' to
    refuse, with a reason."""
    return as_float(value) is not None
