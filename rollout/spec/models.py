"""The Experiment: the one object users write. ``checks.py`` holds the rules that span fields."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator

from analysis.metric_sources import is_builtin_source
from rollout.spec.analysis import AnalysisSpec
from rollout.spec.base import Name, SpecModel
from rollout.spec.chaos import ChaosSpec
from rollout.spec.links import LINKS_MAX, NAME_MAX, URL_MAX, URL_PATTERN, link_name, link_url
from rollout.spec.traffic import MeshSpec, StrategySpec, TargetSpec

API_VERSION = "meshroll.io/v1alpha1"


class Metadata(SpecModel):
    """The Experiment's name, namespace, labels and annotations."""

    name: Name
    """The Experiment's name, unique in its namespace: at most 63 lower-case letters, digits and '-'."""
    namespace: Name = "default"
    """The namespace the Experiment lives in (default: default); the routing objects it names are read there."""
    labels: dict[str, str] = {}
    """Labels of the Experiment, as on any Kubernetes object."""
    annotations: dict[str, str] = {}
    """Annotations of the Experiment, as on any Kubernetes object."""


class SlackSpec(SpecModel):
    """Slack messages about each run: with a bot token, posted to a channel, later events threaded under the
    first message; otherwise posted to an incoming webhook."""

    channel: str | None = None
    """The channel a bot token posts to, e.g. "#deploys". Without it, or without a token, the incoming webhook
    (webhookSecret or webhookUrlEnv) is used instead."""
    token_env: str = "SLACK_BOT_TOKEN"
    """The environment variable (of the process running the experiment) that holds the bot token, read when
    tokenSecret gives none; default SLACK_BOT_TOKEN."""
    token_secret: str | None = None
    """A Secret in the Experiment's namespace whose key "token" holds the bot token; it comes before tokenEnv.
    The controller must be allowed to read it (the chart's secretNames)."""
    webhook_url_env: str | None = None
    """The environment variable that holds a Slack incoming-webhook URL, read when webhookSecret gives none."""
    webhook_secret: str | None = None
    """A Secret in the Experiment's namespace whose key "url" holds a Slack incoming-webhook URL; it comes
    before webhookUrlEnv. The controller must be allowed to read it (the chart's secretNames)."""


class WebhookSpec(SpecModel):
    """An HTTP endpoint that receives every event of a run as JSON."""

    url: str = Field(pattern=r"^https?://")
    """Where the events are POSTed: an http:// or https:// URL."""
    secret_env: str | None = None
    """The environment variable that holds an HMAC key: each body is then signed in the X-Meshroll-Signature
    header (sha256=<hex>). Named but unset, the webhook is left out with a warning, never sent unsigned."""


class LinkSpec(SpecModel):
    """A link every notification of the experiment carries: a dashboard, the logs, a runbook."""

    name: Annotated[
        str,
        AfterValidator(link_name),
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": r"\S"}),
    ]
    """The link's text, e.g. Grafana: 1 to 40 characters, not blank."""
    url: Annotated[
        str,
        AfterValidator(link_url),
        WithJsonSchema({"type": "string", "maxLength": URL_MAX, "pattern": URL_PATTERN}),
    ]
    """An http:// or https:// URL template, filled in for the run: {namespace}, {name}, {service}, {stable},
    {canary}, {start} and {end} (epoch milliseconds; {end} is "now" while the run goes on), {commit}. Write a
    literal brace as {{ or }}."""


class NotifySpec(SpecModel):
    """Where each run's events and decisions are announced, with their numbers."""

    slack: SlackSpec | None = None
    """Post to Slack: a channel with a bot token, or an incoming webhook."""
    webhooks: list[WebhookSpec] = []
    """HTTP endpoints that receive every event as JSON, for other tools."""
    links: list[LinkSpec] = Field(default=[], json_schema_extra={"maxItems": LINKS_MAX})
    """Links (a dashboard, logs, a runbook) added to every message and webhook body; at most 5."""

    @field_validator("links")
    @classmethod
    def _few_links(cls, links: list[LinkSpec]) -> list[LinkSpec]:
        if len(links) > LINKS_MAX:
            raise ValueError(f"at most {LINKS_MAX} links fit a message; this has {len(links)}")
        return links


class GitOpsTriggerSpec(SpecModel):
    """The Git repository the Experiment is kept in."""

    repo: str
    """The repository's URL, e.g. https://git.example/shop/deploy.git."""
    path: str = "experiments/"
    """The folder of experiment files in the repository; default experiments/."""
    branch: str = "main"
    """The branch the experiment files are taken from; default main."""


class TriggerSpec(SpecModel):
    """Where the Experiment is released from, for whoever reads it."""

    gitops: GitOpsTriggerSpec | None = None
    """The Git repository, folder and branch this Experiment is kept in. A record only: meshroll does not read
    it; the GitOps trigger is started with meshroll gitops --repo, or the controller's --gitops-repo."""


class ExperimentRef(SpecModel):
    """Another Experiment, by name; its namespace is the naming Experiment's own unless given."""

    name: Name
    """The other Experiment's name."""
    namespace: Name | None = None
    """The other Experiment's namespace; default: this Experiment's own."""


class ExperimentSpec(SpecModel):
    """What is released and how: the versions, the mesh that routes them, how traffic moves, the faults to
    inject, how the canary is judged, and who is told."""

    target: TargetSpec
    """The Service being released and its two versions, stable and canary."""
    mesh: MeshSpec
    """The mesh whose routing the run changes. provider picks istio, gateway-api or smi (the other fields are
    that provider's), or local: the embedded mesh of meshroll run and meshroll demo, which the controller refuses."""
    strategy: StrategySpec | None = None
    """How traffic reaches the canary: canary (weights, step by step) or abTest (a cohort), either with mirror,
    or mirror alone. Leave it out for a chaos-only experiment."""
    chaos: ChaosSpec | None = None
    """Faults to inject (delays, aborts) and the steady-state rules that halt them. Not on gateway-api or smi."""
    analysis: AnalysisSpec | None = None
    """How the canary is judged against stable after every step, and what happens when no answer comes;
    required with a strategy."""
    notify: NotifySpec = NotifySpec()
    """Where each run's decisions are announced: Slack, webhooks, and links added to every message."""
    trigger: TriggerSpec = TriggerSpec()
    """Where this Experiment is released from; a record that meshroll does not act on."""
    after: list[ExperimentRef] = []
    """Experiments whose latest run must have succeeded (for their current spec) before a run of this one
    starts. The controller waits for them; meshroll run ignores this field."""


class Experiment(SpecModel):
    """A progressive delivery or chaos experiment run by meshroll."""

    api_version: Literal["meshroll.io/v1alpha1"]
    """The API version of this object: meshroll.io/v1alpha1."""
    kind: Literal["Experiment"]
    """The kind of this object: Experiment."""
    metadata: Metadata
    """The Experiment's name and namespace (and labels, annotations)."""
    spec: ExperimentSpec
    """What is released and how: the versions, the mesh, the strategy, faults, analysis and notifications."""

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
