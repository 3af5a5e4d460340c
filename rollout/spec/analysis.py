"""How the canary is judged, as users write it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from analysis.engines import ENGINE_NAMES
from analysis.plugins import NAME_MAX, NAME_PATTERN, valid_engine_name
from rollout.spec.base import SpecModel
from rollout.spec.durations import Duration

Policy = Literal["hold", "rollback", "promote-if-not-critical"]


def _plugin_name(what: str, builtins: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not valid_engine_name(value):
            raise ValueError(
                f"{value[:40]!r} is not {what} name; use {builtins} or an installed plugin's name (at most "
                f"{NAME_MAX} lower-case letters, digits, '-' and '_')"
            )
        return value

    return check


_NAME_SCHEMA = WithJsonSchema({"type": "string", "maxLength": NAME_MAX, "pattern": NAME_PATTERN})
_BUILT_IN_ENGINES = f"one of {', '.join(ENGINE_NAMES)}"
EngineName = Annotated[str, AfterValidator(_plugin_name("an engine", _BUILT_IN_ENGINES)), _NAME_SCHEMA]
"""A built-in engine or an engine plugin; whether it is installed is checked with the other rules (checks.py)."""
SourceName = Annotated[str, AfterValidator(_plugin_name("a metric source", "prometheus")), _NAME_SCHEMA]
"""prometheus or a metric-source plugin; whether it is installed is checked with the other rules (checks.py)."""


class ThresholdRangeSpec(SpecModel):
    """The range a metric's canary value must stay within at each step (engine: threshold)."""

    min: float | None = None
    """The lowest value that passes; unset: no lower bound."""
    max: float | None = None
    """The highest value that passes; unset: no upper bound."""


class MetricRefSpec(SpecModel):
    """A metric the canary is judged on, measured by a template."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$", max_length=63)
    """The metric's name, unique in the experiment, as decisions and haltWhen rules name it: at most 63
    lower-case letters, digits, '-' and '_', e.g. error-rate."""
    template: str
    """What measures it: a built-in template (istio-error-rate, istio-latency-histogram, linkerd-error-rate,
    linkerd-latency-histogram) or the name of one in analysis.templates."""
    margin: float = Field(default=0.1, ge=0.0, le=10.0)
    """How much worse the canary may be and still count as no worse, from 0 to 10; default 0.1. Relative for
    error and latency metrics (0.1: 10% more errors, or slow requests), in the metric's own unit for a gauge."""
    absolute_margin: float | None = Field(default=None, ge=0.0)
    """Error and latency metrics: also accept a canary that provably adds less than this to the rate itself,
    e.g. 0.002 (0.2 points); for rare errors, which no ratio can bound."""
    direction: Literal["increase", "decrease", "either"] = "increase"
    """Which change is bad: increase (the default: more errors, more latency), decrease, or either."""
    critical: bool = False
    """Whether the metric is critical: promote-if-not-critical promotes only when every critical metric is
    proven no worse; the sequential engine gives it twice the weight; under kayenta, one that does not pass
    makes the score 0."""
    weight: float = Field(default=1.0, gt=0.0)
    """The metric's weight against the others, above 0; default 1: its share of alpha (sequential engine) or
    of the score (kayenta)."""
    quantile: float = Field(default=0.99, gt=0.0, lt=1.0)
    """For a latency metric: the quantile the kayenta and threshold engines and haltWhen rules read, and (with
    latencyEdges empty) how far into the tail the sequential engine must prove the canary no worse; between 0
    and 1, default 0.99 (the p99)."""
    latency_edges: list[float] = []
    """For a latency metric: histogram bucket edges (in the le label's unit, ms for the built-in templates)
    where the canary's share of slower requests must be proven no worse, e.g. [100, 250]; empty: from the data."""
    threshold_range: ThresholdRangeSpec | None = None
    """engine: threshold only: the range the canary's value must stay within: an error metric's success rate
    in percent (e.g. min: 99), a latency at the quantile, a gauge's mean."""


class TemplateSpec(SpecModel):
    """A metric template of your own: a PromQL query per role, evaluated for each arm over each step. A query
    may use {{service}}, {{backend}}, {{namespace}}, {{version}} (the arm's), {{stable}}, {{canary}},
    {{window}}, {{start}}, {{end}}, {{step}} and {{reporter}}."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$", max_length=63)
    """The template's name, which metrics give as their template: at most 63 lower-case letters, digits, '-'
    and '_'."""
    kind: Literal["errors", "latency", "gauge"]
    """What it measures: errors (needs requests and errors), latency (needs buckets) or gauge (needs value)."""
    requests: str | None = None
    """kind errors: PromQL for the arm's requests over the step, e.g.
    sum(increase(http_requests_total{version="{{version}}"}[{{window}}]))."""
    errors: str | None = None
    """kind errors: PromQL for the arm's failed requests over the step, counted as requests are."""
    buckets: str | None = None
    """kind latency: PromQL for the arm's cumulative histogram bucket counts over the step, by le, e.g.
    sum by (le) (increase(..._bucket{...}[{{window}}]))."""
    value: str | None = None
    """kind gauge: PromQL for the arm's value, sampled over the step (a range query) and averaged."""
    unit: str = ""
    """The unit of the le label (latency) or of the values (gauge), one short word shown after their numbers,
    e.g. ms or s; not for errors templates."""

    @field_validator("unit")
    @classmethod
    def _one_word(cls, unit: str) -> str:
        if len(unit) > 16 or any(c.isspace() or c in "{}" for c in unit):
            raise ValueError(f"unit {unit[:20]!r} must be one short word, such as ms or s")
        return unit

    @model_validator(mode="after")
    def _roles_for_kind(self) -> TemplateSpec:
        needed = {"errors": ("requests", "errors"), "latency": ("buckets",), "gauge": ("value",)}[self.kind]
        missing = [r for r in needed if getattr(self, r) is None]
        if missing:
            raise ValueError(f"a {self.kind} template needs {' and '.join(missing)}")
        return self

    def queries(self) -> dict[str, str]:
        return {r: q for r in ("requests", "errors", "buckets", "value") if (q := getattr(self, r)) is not None}


class AnalysisSpec(SpecModel):
    """How the canary is judged against stable after every step, and what happens when no answer comes."""

    engine: EngineName = "sequential"
    """The judge: sequential (the default: anytime-valid tests of canary against stable), kayenta (a port of
    Kayenta's judge), threshold (Flagger-style ranges on the canary), or an installed engine plugin's name."""
    source: SourceName | None = None
    """Where the metrics come from: unset or prometheus, the Prometheus meshroll is given (in meshroll run
    without one, the embedded mesh's counters); or an installed metric-source plugin's name."""
    alpha: float = Field(default=0.01, gt=0.0, le=0.5)
    """The sequential engine's chance, at most, of rolling back a healthy canary, over all metrics and however
    often it looks: above 0, at most 0.5; default 0.01."""
    min_requests: int = Field(default=500, ge=0)
    """The requests the canary must have served before it can be promoted; default 500."""
    max_duration: Duration = 3600.0
    """The run's deadline, e.g. 1h (the default) or whole seconds, counted from when the mesh took the run's
    first split: a run neither promoted nor rolled back by then is Inconclusive, and onInconclusive decides."""
    on_no_data: Policy = "hold"
    """What happens when the failure budget is spent, or the deadline comes with the step unjudged: hold (the
    default: pause for an operator), rollback, or promote-if-not-critical (promote if every critical metric was
    proven no worse, else roll back)."""
    failure_budget: int = Field(default=5, ge=0)
    """How many steps in a row may go unjudged (no data, metrics unavailable, a step that could not be judged)
    while the weights hold; one more and onNoData decides. Default 5."""
    failure_threshold: int | None = Field(default=None, ge=1)
    """engine: threshold only: the failed checks over the run (steps with a metric out of range) before it
    rolls back, at least 1; unset: 5, as Flagger's analysis.threshold."""
    on_inconclusive: Policy = "rollback"
    """What happens when maxDuration comes without a decision: rollback (the default: all traffic back to
    stable), hold (pause for an operator), or promote-if-not-critical (promote if every critical metric is
    proven no worse, else back to stable)."""
    step_gate: Literal["no-regression", "non-inferiority"] = "no-regression"
    """What a step needs before the canary takes more traffic: no-regression (the default: a full step without
    evidence of a regression; with engine threshold a failed check is such evidence, with kayenta a score below
    pass) or non-inferiority (proof that it is no worse). Promotion always needs that proof."""
    metrics: list[MetricRefSpec] = Field(min_length=1)
    """The metrics the canary is judged on, at least one, each with a unique name."""
    templates: list[TemplateSpec] = []
    """Metric templates of your own (PromQL), for metrics to name beside the built-in ones."""
