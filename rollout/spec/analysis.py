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
    min: float | None = None
    max: float | None = None


class MetricRefSpec(SpecModel):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$", max_length=63)
    template: str
    margin: float = Field(default=0.1, ge=0.0, le=10.0)  # relative: 0.1 allows the canary 10% worse
    absolute_margin: float | None = Field(default=None, ge=0.0)  # in the metric's unit (0.005 = 0.5 points)
    direction: Literal["increase", "decrease", "either"] = "increase"
    critical: bool = False
    weight: float = Field(default=1.0, gt=0.0)
    quantile: float = Field(default=0.99, gt=0.0, lt=1.0)
    latency_edges: list[float] = []  # ms; bucket edges whose exceedances are tested
    threshold_range: ThresholdRangeSpec | None = None  # for the threshold engine


class TemplateSpec(SpecModel):
    """A user-defined metric template: PromQL per role, with {{variables}}."""

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$", max_length=63)
    kind: Literal["errors", "latency", "gauge"]
    requests: str | None = None
    errors: str | None = None
    buckets: str | None = None
    value: str | None = None
    unit: str = ""  # of the le label or the values, shown after their numbers: "ms", "s"

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
    engine: EngineName = "sequential"  # sequential, kayenta, threshold or a plugin's (docs/plugins.md)
    source: SourceName | None = None  # None: the deployment's Prometheus; or a metric-source plugin's name
    alpha: float = Field(default=0.01, gt=0.0, le=0.5)
    min_requests: int = Field(default=500, ge=0)
    max_duration: Duration = 3600.0
    on_no_data: Policy = "hold"  # when the failure budget is spent
    failure_budget: int = Field(default=5, ge=0)  # steps without data or metrics allowed
    # failed checks before the threshold engine rolls back (Flagger's analysis.threshold); None: the engine's 5
    failure_threshold: int | None = Field(default=None, ge=1)
    on_inconclusive: Policy = "rollback"  # at maxDuration with no answer
    # what a step needs before the canary takes more traffic; promotion always needs proven non-inferiority
    step_gate: Literal["no-regression", "non-inferiority"] = "no-regression"
    metrics: list[MetricRefSpec] = Field(min_length=1)
    templates: list[TemplateSpec] = []
