"""Builds an Experiment's run from its object: the same parts as ``meshroll run`` (provider, metric
source, engine, notifiers, status store), fenced by the Lease and writing its status to the object."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from analysis.engines import engine_or_unavailable
from analysis.metric_sources import plugin_source_or_unavailable
from analysis.sources import MetricSource
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
from rollout.spec.models import Experiment

MESH_WARNING = "MeshWarning"  # the reason of the Warning Events for what the mesh did despite a problem


class RunFactory:
    """Builds the run of an Experiment from its object and run info (the same parts as ``meshroll run``)."""

    def __init__(
        self,
        api: k8s.ApiClient,
        experiments: Experiments,
        context: RunContext,
        *,
        identity: str,
        source_factory: Callable[[], MetricSource],
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

    def _source(self, experiment: Experiment) -> MetricSource:
        """The controller's Prometheus, or the experiment's metric-source plugin (checked at the reconcile for
        a new run; one under way whose plugin this image lacks holds, each step spending its failure budget)."""
        name = experiment.source_plugin
        return self.source_factory() if name is None else plugin_source_or_unavailable(name)

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
