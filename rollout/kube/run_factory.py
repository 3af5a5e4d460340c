"""Builds an Experiment's run from its object: the same parts as ``meshroll run`` (provider, metric
source, engine, notifiers, status store), fenced by the Lease and writing its status to the object.

A controller started without ``--prometheus`` starts no run whose metrics (or halt rules) come from
Prometheus: it would move traffic to a canary it can never judge (``cannot_start``: Ready False,
``NoPrometheus``). Runs that need no metrics, or read them from a metric-source plugin, start as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from analysis.engines import engine_or_unavailable
from analysis.metric_sources import plugin_source_or_unavailable
from analysis.observations import MetricPair
from analysis.sources import MetricQuery, MetricSource, MetricsUnavailableError, StepSpan
from rollout.chaos_watch import SteadyState
from rollout.kube.document import RunInfo
from rollout.kube.events import EventText
from rollout.kube.notify_secrets import ExperimentSecrets
from rollout.kube.objects import Experiments, Key, experiment_from, reference
from rollout.kube.runs import ExperimentRun, FencedProvider, RunContext
from rollout.kube.slack_thread import ExperimentThreadStore
from rollout.kube.store import KubeStatusStore
from rollout.mesh.provider import TrafficProvider
from rollout.orchestrator import Orchestrator
from rollout.plan import run_plan
from rollout.spec.models import Experiment

MESH_WARNING = "MeshWarning"  # the reason of the Warning Events for what the mesh did despite a problem
NO_PROMETHEUS = "NoPrometheus"  # Ready's reason for a run held back because the controller has no Prometheus
WITHOUT_PROMETHEUS = (
    "the controller was started without --prometheus (or MESHROLL_PROMETHEUS_URL; the Helm chart's "
    "prometheus.url); restart it with one"
)


class NoPrometheus:
    """The metric source of a controller started without a Prometheus URL: every step holds, and says why
    (only a run started before, or resumed by a controller restarted without it, gets this far)."""

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        raise MetricsUnavailableError(WITHOUT_PROMETHEUS)


class RunFactory:
    """Builds the run of an Experiment from its object and run info (the same parts as ``meshroll run``)."""

    def __init__(
        self,
        api: k8s.ApiClient,
        experiments: Experiments,
        context: RunContext,
        *,
        identity: str,
        source_factory: Callable[[], MetricSource] | None,
        provider_factory: Callable[..., Any] | None,
        state_dir: Path | None,
        slack_actions: bool = False,
    ) -> None:
        self.api = api
        self.slack_actions = slack_actions
        self.experiments = experiments
        self.context = context
        self.identity = identity
        self.source_factory = source_factory
        self.provider_factory = provider_factory
        self.state_dir = state_dir

    def store(self, key: Key, info: RunInfo) -> KubeStatusStore:
        return KubeStatusStore(
            self.experiments,
            key,
            info,
            identity=self.identity,
            may_write=self.context.may_act,
            clock=self.context.clock,
        )

    def build(self, key: Key, obj: Mapping[str, Any], info: RunInfo) -> ExperimentRun:
        """Raises InvalidExperiment when the run's spec does not validate, MeshError for an unusable mesh."""
        from rollout.notify import close_all, notifiers_for

        experiment = experiment_from(obj, info.spec)
        analysis = experiment.spec.analysis
        # a new run's engine was checked at the reconcile; one under way whose plugin this image lacks
        # holds its weights, blocked, and can still be aborted, reverted or deleted
        judge = engine_or_unavailable(analysis.engine if analysis is not None else "sequential")
        provider = self._provider(experiment, reference(obj))
        notifiers = notifiers_for(
            experiment,
            self.state_dir,
            secret_reader=ExperimentSecrets(self.api, self.context.recorder, reference(obj)),  # a Warning if unreadable
            slack_actions=self.slack_actions,
            threads=ExperimentThreadStore(self.experiments, key, obj),
        )
        store = self.store(key, info)
        orchestrator = Orchestrator(
            experiment,
            FencedProvider(provider, self.context.may_act, str(key)),
            self._source(experiment),
            judge,
            store,
            notifiers=list(notifiers),
            clock=self.context.clock,
        )

        if orchestrator.plan.watches_steady_state:
            orchestrator.steady_state = SteadyState(experiment, orchestrator.plan, self._source(experiment))

        def close(timeout: float) -> None:
            threading.Thread(target=close_all, args=(notifiers, timeout), daemon=True).start()

        return ExperimentRun(key, reference(obj), orchestrator, store, self.context, close_notifiers=close)

    def cannot_start(self, experiment: Experiment) -> EventText | None:
        """Why a new run of ``experiment`` must not start here, as its Event (None: it may): its metrics or
        halt rules come from Prometheus, and this controller has none."""
        if self.source_factory is not None or experiment.source_plugin is not None:
            return None
        analysis = experiment.spec.analysis
        if not (analysis is not None and analysis.metrics) and not run_plan(experiment).halt_rules:
            return None  # nothing to read: a chaos drill without halt rules, say
        note = (
            f"no run starts and no traffic moves: its metrics come from Prometheus, and {WITHOUT_PROMETHEUS} "
            "(or give the Experiment analysis.source: a metric-source plugin)"
        )
        return EventText("Warning", NO_PROMETHEUS, "Start", note)

    def _source(self, experiment: Experiment) -> MetricSource:
        """The controller's Prometheus, or the experiment's metric-source plugin (checked at the reconcile for
        a new run; one under way whose plugin this image lacks holds, each step spending its failure budget)."""
        name = experiment.source_plugin
        if name is not None:
            return plugin_source_or_unavailable(name)
        return self.source_factory() if self.source_factory is not None else NoPrometheus()

    def provider(self, key: Key, obj: Mapping[str, Any], info: RunInfo) -> FencedProvider:
        """The (fenced) provider of the run ``info`` describes, built as ``build`` builds it, without the run.

        Raises InvalidExperiment when the run's spec does not validate, MeshError for an unusable mesh."""
        provider = self._provider(experiment_from(obj, info.spec), reference(obj))
        return FencedProvider(provider, self.context.may_act, str(key))

    def _provider(self, experiment: Experiment, regarding: Mapping[str, Any]) -> TrafficProvider:
        if self.provider_factory is None:
            from rollout.mesh.factory import provider_for

            def warn(message: str) -> None:  # e.g. a revert to stable with the DestinationRule gone
                self.context.recorder.record(regarding, EventText("Warning", MESH_WARNING, "Route", message))

            return provider_for(experiment, self.api, warn=warn)
        provider: TrafficProvider = self.provider_factory(experiment, self.api)
        return provider
