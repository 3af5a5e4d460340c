"""What is released and how traffic moves: target, mesh provider, strategy."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from rollout.spec.base import Name, Percent, SpecModel, Weight
from rollout.spec.durations import Duration
from rollout.spec.messages import misplaced
from rollout.spec.providers import PROVIDERS as PROVIDERS
from rollout.spec.providers import BackendProfileSpec as BackendProfileSpec
from rollout.spec.providers import GatewayApiMeshSpec as GatewayApiMeshSpec
from rollout.spec.providers import IstioMeshSpec as IstioMeshSpec
from rollout.spec.providers import LocalMeshSpec as LocalMeshSpec
from rollout.spec.providers import MeshSpec as MeshSpec
from rollout.spec.providers import SmiMeshSpec as SmiMeshSpec


class VersionSpec(SpecModel):
    """One version of the Service: its name, and where the mesh finds it."""

    version: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
    """The version's name, as its pods' version label says (e.g. v2): 1 to 63 letters, digits, '-', '_' and
    '.'. The built-in metric templates select the arm by it."""
    subset: str | None = None
    """Istio only: the DestinationRule subset of this version; default: the version."""
    service: str | None = None
    """Gateway API and SMI only: the Service that sends traffic to this version alone; default:
    <service>-<version>."""


class TargetSpec(SpecModel):
    """The Service being released and its two versions."""

    service: Name
    """The Service being released: the host whose traffic is split (on Istio, unless mesh.host says another),
    and the Service the built-in metric templates select."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """The Service's port (1 to 65535), for the record: meshroll does not read it, and keeps the port each
    route destination already has. meshroll import fills it in from Flagger or Argo Rollouts."""
    stable: VersionSpec
    """The version that serves the traffic now."""
    canary: VersionSpec
    """The new version being released; its version must differ from stable's."""

    def version_service(self, version: VersionSpec) -> str:
        """The per-version Service (Gateway API, SMI): as given, else ``<service>-<version>``."""
        return version.service or f"{self.service}-{version.version}"

    @model_validator(mode="after")
    def _versions_differ(self) -> TargetSpec:
        if self.stable.version == self.canary.version:
            raise ValueError(f"stable and canary are both version {self.stable.version!r}; give the canary its own")
        return self


class StringMatchSpec(SpecModel):
    """How a value must match: give exactly one of exact, prefix or regex."""

    exact: str | None = None
    """The value must be exactly this."""
    prefix: str | None = None
    """The value must start with this."""
    regex: str | None = None
    """The whole value must match this regular expression (RE2 syntax, as the meshes take it)."""

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
    """Request headers by name, each a match ({exact: ...}, {prefix: ...} or {regex: ...}) or a plain string,
    which is an exact match; e.g. {x-beta: "1"}."""
    cookies: dict[str, str] = {}
    """Cookies by name, each with the exact value it must have (RFC 6265 names and values); e.g. {beta: "yes"}."""
    query_params: dict[str, StringMatchSpec] = Field(default={}, json_schema_extra=_or_plain_string)
    """Query parameters by name, each a match or a plain string (an exact match), as for headers."""

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
    """The cookie that keeps a user on the canary: an RFC 6265 token of at most 64 characters, not starting
    with __Secure- or __Host-; default meshroll-canary."""
    max_age: Duration = 86400.0
    """The cookies' Max-Age: whole seconds from 1s to 400d, e.g. 12h; default 1d."""
    primary_cookie_name: PrimaryCookieName | None = None
    """If set, users the weights send to stable get a cookie of this name and stay on stable (it must differ
    from cookieName); unset, stable's users follow the weights."""

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
    """The cohort, at least one entry: a request matching any entry (all of that entry's conditions) goes to
    the canary."""


class CanaryStrategySpec(SpecModel):
    """A canary: the canary's share of the traffic grows step by step, judged after every step; promotion
    then sends all traffic to it."""

    steps: list[Weight] | None = Field(default=None, min_length=1)
    """Canary weights in percent, one per step, rising, above 0 and below 100; e.g. [5, 10, 25, 50]. Give
    steps, or stepWeight with maxWeight."""
    step_weight: Weight | None = None
    """Instead of steps: the weight in percent added at each step, e.g. 10 (10, 20, ... up to maxWeight)."""
    max_weight: Weight | None = None
    """With stepWeight: the last step's weight in percent, below 100; always a step, e.g. 50."""
    step_interval: Duration = 60.0
    """How long each step lasts before it is judged, e.g. 2m (or whole seconds); default 1m."""
    session_affinity: SessionAffinitySpec | None = None
    """Sticky canary: a user the weights send to the canary gets a cookie and stays there. Not on smi."""
    cohort: CohortSpec | None = None
    """Requests that always reach the canary while it has weight (beta testers, say), besides the weights.
    Not on smi."""

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
    """An A/B test: requests of a cohort go to the canary, all others to stable; no weights."""

    match: list[MatchSpec] = Field(min_length=1)
    """The cohort, at least one entry: a request matching any entry (all of that entry's conditions) goes to
    the canary."""
    duration: Duration
    """How long the cohort goes to the canary before the test may promote it, e.g. 1h; a proven regression
    rolls it back sooner."""
    step_interval: Duration = 60.0
    """How often the test is judged, e.g. 5m (or whole seconds); default 1m."""

    @model_validator(mode="before")
    @classmethod
    def _no_session_affinity(cls, value: object) -> object:
        _canary_only(value, "cohort", "an A/B test's cohort is its match (abTest.match), with no weights")
        why = "an A/B test already routes its whole cohort to the canary by match"
        return _canary_only(value, "sessionAffinity", why)


class MirrorSpec(SpecModel):
    """Shadow traffic: a share of the requests is copied to the canary, whose answers are dropped."""

    percent: Percent
    """The share of requests copied to the canary, in percent: above 0, at most 100."""
    duration: Duration | None = None
    """How long a mirror-only strategy mirrors, e.g. 30m; required then, and not read beside canary or
    abTest."""
    step_interval: Duration = 60.0
    """How often a mirror-only strategy is judged (beside canary or abTest, theirs counts); default 1m."""

    @model_validator(mode="before")
    @classmethod
    def _no_session_affinity(cls, value: object) -> object:
        _canary_only(value, "cohort", "mirroring copies a share of all requests and routes no cohort")
        why = "mirrored copies never answer users, so there is nothing to keep sticky"
        return _canary_only(value, "sessionAffinity", why)


class StrategySpec(SpecModel):
    """How traffic reaches the canary: canary or abTest (not both), optionally with mirror, or mirror alone."""

    canary: CanaryStrategySpec | None = None
    """A canary by weight: its share of the traffic grows step by step."""
    ab_test: ABTestSpec | None = None
    """An A/B test: a cohort of requests goes to the canary for a set time. Not on smi."""
    mirror: MirrorSpec | None = None
    """Shadow traffic: copies of a share of the requests go to the canary too. Not on smi."""

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
