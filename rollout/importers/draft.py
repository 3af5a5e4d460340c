"""An Experiment being translated: its fields, how each was chosen, and what could not be translated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rollout.importers.documents import DocPath, PeerDocument, format_path
from rollout.spec.durations import format_duration

DEFAULT_MAX_DURATION = 3600.0


@dataclass(frozen=True)
class Note:
    """One part of a peer file that was not translated, and what to do instead."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.path}: not translated: {self.message}"


@dataclass(frozen=True)
class FailureLimit:
    """An Argo metric's ``failureLimit``: failed measurements it tolerates (the analysis fails past them)."""

    template: PeerDocument
    path: DocPath  # the metric's, in its template
    metric: str
    limit: int
    given: bool  # False: not set, so Argo's default 0


@dataclass
class Draft:
    """The pieces of one Experiment, in the order they are written."""

    source: PeerDocument
    peer: str  # "Flagger Canary", "Argo Rollouts Rollout"
    engine: str
    name: str
    namespace: str | None
    target: dict[str, Any] = field(default_factory=dict)
    mesh: dict[str, Any] = field(default_factory=dict)
    strategy: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    notify: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    max_duration: float = DEFAULT_MAX_DURATION
    choices: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    mesh_family: str = "istio"  # whose standard metrics the built-in templates read: istio or linkerd
    failure_threshold: int | None = None  # analysis.failureThreshold (engine threshold only); None: not written
    # Argo: each translated metric's failureLimit (not set: Argo's 0), settled into failure_threshold
    failure_limits: list[FailureLimit] = field(default_factory=list)
    lost_metrics: list[str] = field(default_factory=list)  # the peer's metrics not translated: "'name' (why)"

    def choose(self, text: str) -> None:
        """Say how a field was translated (a comment above the Experiment)."""
        self.choices.append(text)

    def skip(self, document: PeerDocument, path: DocPath, message: str) -> None:
        """Record a part that was not translated (a comment, and a line on stderr)."""
        document.used.add(path)
        where = format_path(path)
        if document is not self.source:  # a template or provider, possibly one of several in its file
            where = f"{document.kind}/{document.name}:{where}"
        note = Note(document.file, where, message)
        if note not in self.notes:
            self.notes.append(note)

    def experiment(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        if self.labels:
            metadata["labels"] = dict(sorted(self.labels.items()))
        analysis: dict[str, Any] = {"engine": self.engine, "maxDuration": format_duration(self.max_duration)}
        if self.failure_threshold is not None:
            analysis["failureThreshold"] = self.failure_threshold
        analysis["metrics"] = self.metrics
        if self.templates:
            analysis["templates"] = self.templates
        spec: dict[str, Any] = {
            "target": self.target,
            "mesh": self.mesh,
            "strategy": self.strategy,
            "analysis": analysis,
        }
        if self.notify:
            spec["notify"] = self.notify
        return {"apiVersion": "meshroll.io/v1alpha1", "kind": "Experiment", "metadata": metadata, "spec": spec}
