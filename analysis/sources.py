"""Where step observations come from: the protocol every metric source implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from analysis.observations import MetricKind, MetricPair


class MetricsUnavailableError(Exception):
    """The metric source could not be read (down, timing out, refusing): not a verdict on the canary."""


@dataclass(frozen=True)
class MetricQuery:
    """One metric to read for a step: its name, its template and the template's kind.

    ``queries`` holds a custom template's PromQL per role (empty for built-in templates).
    """

    name: str
    template: str
    kind: MetricKind
    queries: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSpan:
    """A step's time span and the names the templates fill in."""

    start: float
    end: float
    stable_version: str
    canary_version: str
    service: str = ""
    namespace: str = "default"
    reporter: str = "destination"  # Istio's view: "destination" judges versions, "source" sees injected faults
    # the Service each arm's requests are sent to, where it is not ``service`` (Gateway API, SMI: one per version)
    stable_backend: str = ""
    canary_backend: str = ""

    def backend(self, version: str) -> str:
        """The Service the requests of the arm running ``version`` are sent to."""
        own = self.stable_backend if version == self.stable_version else self.canary_backend
        return own or self.service


class MetricSource(Protocol):
    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        """Each metric's stable and canary samples over ``span``; a metric with no data is left out.

        Raises MetricsUnavailableError when the source cannot be read at all.
        """
        ...


@runtime_checkable
class ExplainsNoData(Protocol):
    """A source that can say what an empty answer means for it (and so where to look)."""

    def no_data(self, span: StepSpan) -> str: ...


def arms_of(span: StepSpan) -> str:
    """``checkout (v1, v2) in demo``: the names a step's queries were filled with."""
    return f"{span.service} ({span.stable_version}, {span.canary_version}) in {span.namespace}"


def no_data_reason(source: MetricSource, span: StepSpan) -> str:
    """Why a step got no data at all, in the words of its source."""
    if isinstance(source, ExplainsNoData):
        return source.no_data(span)
    return f"the metric source has no data for {arms_of(span)} during the step; check that it receives their metrics"


@runtime_checkable
class Checkable(Protocol):
    """A source that can say, before a run moves any traffic, whether it can be read at all."""

    def check(self) -> None:
        """Raise MetricsUnavailableError unless the source answers."""
        ...


def check_source(source: MetricSource) -> None:
    """Raise MetricsUnavailableError when ``source`` says it cannot be read (sources without a check pass)."""
    if isinstance(source, Checkable):
        source.check()
