"""The Experiment: the one object users write. ``checks.py`` holds the rules that span fields."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from rollout.spec.analysis import AnalysisSpec
from rollout.spec.base import Name, SpecModel
from rollout.spec.chaos import ChaosSpec
from rollout.spec.links import LINK_PLACEHOLDERS, placeholders
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

    name: str = Field(min_length=1, max_length=40, description="The link's text, e.g. Grafana")
    url: str = Field(
        pattern=r"^https?://",
        max_length=2000,
        description="A URL template; placeholders: " + ", ".join("{" + n + "}" for n in LINK_PLACEHOLDERS),
    )

    @field_validator("url")
    @classmethod
    def _known_placeholders(cls, url: str) -> str:
        placeholders(url)
        return url


class NotifySpec(SpecModel):
    slack: SlackSpec | None = None
    webhooks: list[WebhookSpec] = []
    links: list[LinkSpec] = Field(default=[], max_length=5)


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
