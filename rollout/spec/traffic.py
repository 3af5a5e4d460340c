"""What is released and how traffic moves: target, mesh provider, strategy."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from rollout.spec.base import Fraction, Name, Percent, SpecModel, Weight
from rollout.spec.durations import Duration
from rollout.spec.messages import misplaced


class VersionSpec(SpecModel):
    version: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
    subset: str | None = None  # Istio DestinationRule subset (default: the version)
    service: str | None = None  # per-version Service (Gateway API, SMI; default: <service>-<version>)


class TargetSpec(SpecModel):
    service: Name
    port: int | None = Field(default=None, ge=1, le=65535)
    stable: VersionSpec
    canary: VersionSpec

    def version_service(self, version: VersionSpec) -> str:
        """The per-version Service (Gateway API, SMI): as given, else ``<service>-<version>``."""
        return version.service or f"{self.service}-{version.version}"

    @model_validator(mode="after")
    def _versions_differ(self) -> TargetSpec:
        if self.stable.version == self.canary.version:
            raise ValueError(f"stable and canary are both version {self.stable.version!r}; give the canary its own")
        return self


class BackendProfileSpec(SpecModel):
    """How a demo backend of the embedded mesh behaves."""

    median_latency: Duration = 0.02
    p99_latency: Duration = 0.08
    error_rate: Fraction = 0.002

    @model_validator(mode="after")
    def _p99_above_median(self) -> BackendProfileSpec:
        if self.p99_latency < self.median_latency:
            raise ValueError("p99Latency is below medianLatency; p99 must be at least the median")
        return self


class LocalMeshSpec(SpecModel):
    provider: Literal["local"]
    port: int = Field(default=0, ge=0, le=65535)  # the router's port; 0 picks a free one
    metrics_port: int = Field(default=0, ge=0, le=65535)  # /metrics port; fix it for a Prometheus to scrape
    load_rate: float = Field(default=150.0, gt=0, le=5000)  # requests per second from the load generator
    cohort_fraction: Fraction = 0.1  # share of generated requests that carry the A/B cohort header
    load_users: int = Field(default=0, ge=0, le=100_000)  # users who keep their cookies (0: all new visitors)
    stable: BackendProfileSpec = BackendProfileSpec()
    canary: BackendProfileSpec = BackendProfileSpec()
    seed: int | None = None

    @model_validator(mode="after")
    def _ports_apart(self) -> LocalMeshSpec:
        if self.port and self.port == self.metrics_port:
            raise ValueError(
                f"port and metricsPort are both {self.port}; the router and /metrics need a port each (0 picks one)"
            )
        return self


class IstioMeshSpec(SpecModel):
    provider: Literal["istio"]
    virtual_service: Name
    route: str | None = None  # name of the http route entry meshroll weights (default: the first)
    destination_rule: Name | None = None
    host: str | None = None  # destination host (default: the target service)


class GatewayApiMeshSpec(SpecModel):
    provider: Literal["gateway-api"]
    http_route: Name
    rule: str | None = None  # name of the rule meshroll weights (default: the first rule)


class SmiMeshSpec(SpecModel):
    provider: Literal["smi"]
    traffic_split: Name
    api_version: Literal["split.smi-spec.io/v1alpha4", "split.smi-spec.io/v1alpha2", "split.smi-spec.io/v1alpha1"] = (
        "split.smi-spec.io/v1alpha4"
    )


MeshSpec = Annotated[LocalMeshSpec | IstioMeshSpec | GatewayApiMeshSpec | SmiMeshSpec, Field(discriminator="provider")]
PROVIDERS = ("local", "istio", "gateway-api", "smi")


class StringMatchSpec(SpecModel):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StringMatchSpec:
        given = [k for k in ("exact", "prefix", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of exact, prefix or regex")
        return self

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:  # the mesh would reject it (Envoy's RE2), or never match
                problem = f"{value!r} is not a regular expression ({exc}); fix it, or use exact or prefix"
                raise ValueError(problem) from None
        return value


def _or_plain_string(schema: dict[str, Any]) -> None:
    """The schema says what the model takes: each value a match, or a plain string (its ``exact``)."""
    schema["additionalProperties"] = {
        "anyOf": [{"type": "string", "description": "the same as {exact: <it>}"}, schema["additionalProperties"]]
    }


class MatchSpec(SpecModel):
    """One cohort condition set; all of its conditions must hold."""

    headers: dict[str, StringMatchSpec] = Field(default={}, json_schema_extra=_or_plain_string)
    cookies: dict[str, str] = {}  # cookie name -> exact value
    query_params: dict[str, StringMatchSpec] = Field(default={}, json_schema_extra=_or_plain_string)

    @field_validator("headers", "query_params", mode="before")
    @classmethod
    def _plain_string_is_exact(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: {"exact": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("cookies")
    @classmethod
    def _cookies_a_browser_can_send(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(COOKIE_NAME_PATTERN, name):
                raise ValueError(
                    f"{name!r} is not a cookie name (RFC 6265 token): no request carries it, so it matches none"
                )
            if not re.fullmatch(COOKIE_VALUE_PATTERN, text):
                raise ValueError(
                    f"{text!r} is not a cookie value (RFC 6265: no spaces, quotes, ',', ';' or '\\'), so it matches "
                    f"no request; cookie {name} needs another value"
                )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> MatchSpec:
        if not (self.headers or self.cookies or self.query_params):
            raise ValueError("a match needs at least one of headers, cookies or queryParams")
        return self


ALL_TO_CANARY = (
    "a step of 100 leaves stable no traffic to compare the canary with; end the steps below 100 "
    "(promotion then sends all traffic to the canary)"
)


COOKIE_NAME_PATTERN = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"
"""RFC 6265 section 4.1.1: a cookie name is an RFC 2616 token (no separators, spaces or controls)."""
COOKIE_VALUE_PATTERN = r"^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$"
"""RFC 6265 section 4.1.1: cookie-octets (printable US-ASCII but space, DQUOTE, ',', ';' and backslash)."""
MAX_COOKIE_AGE_DAYS = 400  # RFC 6265bis: user agents cap Max-Age at 400 days
MAX_COOKIE_NAME = 64


def check_cookie_name(value: str, *, if_empty: str = "leave cookieName out for meshroll-canary, or give a name") -> str:
    if not value:
        raise ValueError(f"the cookie name is empty; {if_empty}")
    if len(value) > MAX_COOKIE_NAME:
        raise ValueError(f"a cookie name of {len(value)} characters is too long; use at most {MAX_COOKIE_NAME}")
    if not re.fullmatch(COOKIE_NAME_PATTERN, value):
        bad = next((c for c in value if not re.fullmatch(COOKIE_NAME_PATTERN, c)), "")
        raise ValueError(
            f"{value!r} is not a cookie name: {bad!r} is not allowed (RFC 6265: letters, digits and "
            "!#$%&'*+-.^_`|~ only; no spaces, '=', ';', ',', quotes or brackets)"
        )
    if value.lower().startswith(("__secure-", "__host-")):
        raise ValueError(
            f"{value!r}: browsers accept __Secure- and __Host- cookies only with the Secure attribute, which "
            "meshroll does not set; use another name (the default is meshroll-canary)"
        )
    return value


def check_primary_cookie_name(value: str) -> str:
    return check_cookie_name(value, if_empty="leave primaryCookieName out to pin canary users alone, or give a name")


_COOKIE_NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": MAX_COOKIE_NAME, "pattern": COOKIE_NAME_PATTERN}
CookieName = Annotated[str, AfterValidator(check_cookie_name), WithJsonSchema(_COOKIE_NAME_SCHEMA)]
PrimaryCookieName = Annotated[str, AfterValidator(check_primary_cookie_name), WithJsonSchema(_COOKIE_NAME_SCHEMA)]


class SessionAffinitySpec(SpecModel):
    """Sticky canary: a user the weights send to the canary gets a cookie and stays on the canary
    (with primaryCookieName, one they send to stable gets that cookie and stays on stable)."""

    cookie_name: CookieName = "meshroll-canary"
    max_age: Duration = 86400.0  # the cookie's Max-Age (default 1d); stable's cookie has the same
    primary_cookie_name: PrimaryCookieName | None = None  # None: stable's users follow the weights

    @field_validator("max_age")
    @classmethod
    def _whole_seconds_within_bounds(cls, value: float) -> float:
        if value < 1 or value != int(value):
            raise ValueError("maxAge must be a whole number of seconds, at least 1s (Max-Age counts seconds)")
        if value > MAX_COOKIE_AGE_DAYS * 86400:
            raise ValueError(f"maxAge is above {MAX_COOKIE_AGE_DAYS}d, the longest browsers keep a cookie")
        return value

    @model_validator(mode="after")
    def _two_cookies(self) -> SessionAffinitySpec:
        if self.primary_cookie_name == self.cookie_name:
            raise ValueError(
                f"primaryCookieName and cookieName are both {self.cookie_name!r}: one cookie cannot pin users to "
                "both arms (the canary's cookie route would take stable's users too); give primaryCookieName "
                "another name (cookieName defaults to meshroll-canary)"
            )
        return self


CANARY_ONLY = {
    "sessionAffinity": "it keeps users the weights sent to the canary there",
    "cohort": "it sends matching requests to the canary alongside the step weights",
}


def _canary_only(value: object, field: str, where: str) -> object:
    """Refuse ``field`` (a setting of strategy.canary alone) written in another place, at that key; ``where``
    says why not there."""
    if isinstance(value, dict) and field in value:
        raise misplaced(
            field,
            f"{field} belongs to strategy.canary ({CANARY_ONLY[field]}); {where}: move it under strategy.canary, "
            "or remove it",
        )
    return value


class CohortSpec(SpecModel):
    """Requests matching any entry reach the canary while it has weight; the others follow the weights."""

    match: list[MatchSpec] = Field(min_length=1)


class CanaryStrategySpec(SpecModel):
    steps: list[Weight] | None = Field(default=None, min_length=1)
    step_weight: Weight | None = None
    max_weight: Weight | None = None
    step_interval: Duration = 60.0
    session_affinity: SessionAffinitySpec | None = None
    cohort: CohortSpec | None = None

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[int] | None) -> list[int] | None:
        if steps is not None:
            for before, after in itertools.pairwise(steps):
                if after <= before:
                    raise ValueError(f"steps must increase: {after} follows {before}")
            if steps[0] == 0:
                raise ValueError("the first step must send some traffic to the canary (above 0)")
            if steps[-1] == 100:
                raise ValueError(ALL_TO_CANARY)
        return steps

    @model_validator(mode="after")
    def _one_schedule(self) -> CanaryStrategySpec:
        if self.steps is not None and (self.step_weight is not None or self.max_weight is not None):
            raise ValueError("give either steps or stepWeight/maxWeight, not both")
        if self.steps is None and self.step_weight is None:
            raise ValueError("give steps (for example [5, 10, 25, 50]) or stepWeight with maxWeight")
        if self.step_weight is not None:
            if self.step_weight == 0:
                raise ValueError("stepWeight must be above 0")
            if self.max_weight is None:
                raise ValueError("stepWeight needs maxWeight (for example stepWeight: 10, maxWeight: 50)")
            if self.max_weight < self.step_weight:
                raise ValueError(f"maxWeight {self.max_weight} is below stepWeight {self.step_weight}")
            if self.max_weight == 100:
                raise ValueError(ALL_TO_CANARY.replace("a step of 100", "maxWeight 100"))
        if self.step_interval <= 0:
            raise ValueError("stepInterval must be above 0")
        return self

    @property
    def schedule(self) -> list[int]:
        """The canary weights, one per step, in order: with stepWeight, up to maxWeight, which is always the last
        step (stepWeight 30, maxWeight 50: 30, 50)."""
        if self.steps is not None:
            return list(self.steps)
        assert self.step_weight is not None and self.max_weight is not None
        weights = list(range(self.step_weight, self.max_weight + 1, self.step_weight))
        return weights if weights[-1] == self.max_weight else [*weights, self.max_weight]


class ABTestSpec(SpecModel):
    match: list[MatchSpec] = Field(min_length=1)
    duration: Duration
    step_interval: Duration = 60.0

    @model_validator(mode="before")
    @classmethod
    def _no_session_affinity(cls, value: object) -> object:
        _canary_only(value, "cohort", "an A/B test's cohort is its match (abTest.match), with no weights")
        why = "an A/B test already routes its whole cohort to the canary by match"
        return _canary_only(value, "sessionAffinity", why)


class MirrorSpec(SpecModel):
    percent: Percent
    duration: Duration | None = None  # needed when mirroring is the whole strategy
    step_interval: Duration = 60.0

    @model_validator(mode="before")
    @classmethod
    def _no_session_affinity(cls, value: object) -> object:
        _canary_only(value, "cohort", "mirroring copies a share of all requests and routes no cohort")
        why = "mirrored copies never answer users, so there is nothing to keep sticky"
        return _canary_only(value, "sessionAffinity", why)


class StrategySpec(SpecModel):
    canary: CanaryStrategySpec | None = None
    ab_test: ABTestSpec | None = None
    mirror: MirrorSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _cohort_under_canary(cls, value: object) -> object:
        return _canary_only(value, "cohort", "here it would apply to no schedule")

    @model_validator(mode="after")
    def _one_strategy(self) -> StrategySpec:
        if self.canary is not None and self.ab_test is not None:
            raise ValueError("give canary or abTest, not both")
        if self.canary is None and self.ab_test is None:
            if self.mirror is None:
                raise ValueError("give one of canary, abTest or mirror")
            if self.mirror.duration is None:
                raise ValueError("a mirror-only strategy needs mirror.duration")
        return self
