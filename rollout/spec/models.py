"""The Experiment: the one object users write. ``checks.py`` holds the rules that span fields."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator

from analysis.metric_sources import is_builtin_source
from rollout.spec.analysis import AnalysisSpec
from rollout.spec.base import Name, SpecModel
from rollout.spec.chaos import ChaosSpec
from rollout.spec.links import LINK_PLACEHOLDERS, LINKS_MAX, NAME_MAX, URL_MAX, URL_PATTERN, link_name, link_url
from rollout.spec.traffic import MeshSpec, StrategySpec, TargetSpec

API_VERSION = "meshroll.io/v1alpha1"


class Metadata(SpecModel):
    name: Name
    namespace: Name = "default"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class SlackSpec(SpecModel):
    """Bot-token mode posts to ``channel`` and threads later events; webhook mode posts to a URL."""

    channel: str | None = None
    token_env: str = "SLACK_BOT_TOKEN"  # environment variable holding the bot token
    token_secret: str | None = None  # Kubernetes Secret (key "token") holding the bot token
    webhook_url_env: str | None = None  # environment variable holding an incoming-webhook URL
    webhook_secret: str | None = None  # Kubernetes Secret (key "url") holding an incoming-webhook URL


class WebhookSpec(SpecModel):
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = None  # environment variable holding an HMAC key for X-Meshroll-Signature


class LinkSpec(SpecModel):
    """A link every notification of the experiment carries: a dashboard, the logs, a runbook."""

    name: Annotated[
        str,
        AfterValidator(link_name),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": r"\S"}),
    ] = Field(description="The link's text, e.g. Grafana")
    url: Annotated[
        str,
        AfterValidator(link_url),
        WithJsonSchema({"type": "string", "maxLength": URL_MAX, "pattern": URL_PATTERN}),
    ] = Field(description="A URL template; placeholders: " + ", ".join("{" + n + "}" for n in LINK_PLACEHOLDERS))


class NotifySpec(SpecModel):
    slack: SlackSpec | None = None
    webhooks: list[WebhookSpec] = []
    links: list[LinkSpec] = Field(default=[], json_schema_extra={"maxItems": LINKS_MAX})

    @field_validator("links")
    @classmethod
    def _few_links(cls, links: list[LinkSpec]) -> list[LinkSpec]:
        if len(links) > LINKS_MAX:
            raise ValueError(f"at most {LINKS_MAX} links fit a message; this has {len(links)}")
        return links


class GitOpsTriggerSpec(SpecModel):
    repo: str
    path: str = "experiments/"
    branch: str = "main"


class TriggerSpec(SpecModel):
    gitops: GitOpsTriggerSpec | None = None


class ExperimentRef(SpecModel):
    """Another Experiment, by name; its namespace is the naming Experiment's own unless given."""

    name: Name
    namespace: Name | None = None


class ExperimentSpec(SpecModel):
    target: TargetSpec
    mesh: MeshSpec
    strategy: StrategySpec | None = None
    chaos: ChaosSpec | None = None
    analysis: AnalysisSpec | None = None
    notify: NotifySpec = NotifySpec()
    trigger: TriggerSpec = TriggerSpec()
    after: list[ExperimentRef] = Field(
        default=[],
        description="Experiments whose runs must have succeeded (for their current spec) before a run of this one "
        "starts (meshroll controller; README, 'Release order').",
    )


class Experiment(SpecModel):
    api_version: Literal["meshroll.io/v1alpha1"]
    kind: Literal["Experiment"]
    metadata: Metadata
    spec: ExperimentSpec

    @property
    def key(self) -> str:
        """``namespace/name``: the experiment's identity and the owner mark on what it injects."""
        return f"{self.metadata.namespace}/{self.metadata.name}"

    @property
    def source_plugin(self) -> str | None:
        """The metric-source plugin ``spec.analysis.source`` names; None for the built-in (Prometheus, or the
        embedded mesh's counters in a local run without one)."""
        name = self.spec.analysis.source if self.spec.analysis is not None else None
        return None if is_builtin_source(name) else name
