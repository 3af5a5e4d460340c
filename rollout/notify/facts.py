"""What a notification says, gathered once from (experiment, status, note). Pure.

Slack's Block Kit and the generic JSON webhook render the same ``Facts``, so every channel carries
the same numbers: the target, the commit, the weights, each metric's verdict and the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rollout.events import Judged, MetricNumbers, interval_name
from rollout.machine import Notify
from rollout.notify.links import Link, links
from rollout.spec.models import Experiment
from rollout.status import Source, Status

TERMINAL_KINDS = frozenset({"succeeded", "rolled-back", "aborted", "inconclusive"})

EMOJI = {
    "started": ":rocket:",
    "advanced": ":arrow_forward:",
    "paused": ":double_vertical_bar:",
    "resumed": ":arrow_forward:",
    "promoting": ":arrow_up:",
    "succeeded": ":white_check_mark:",
    "rolling-back": ":rewind:",
    "rolled-back": ":leftwards_arrow_with_hook:",
    "aborted": ":octagonal_sign:",
    "inconclusive": ":grey_question:",
}


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    message: str
    repo: str = ""
    path: str = ""

    @property
    def short_sha(self) -> str:
        return self.sha[:8]

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.strip().splitlines()[0] if self.message.strip() else ""


@dataclass(frozen=True)
class Facts:
    experiment: str  # namespace/name
    kind: str
    headline: str
    reason: str
    phase: str
    service: str
    stable_version: str
    canary_version: str
    stable_weight: int
    canary_weight: int
    step: int  # 1-based; 0 before the first step
    engine: str
    metrics: tuple[MetricNumbers, ...]
    commit: Commit | None
    time: float | None
    run: str  # identity of this run of the experiment (its start time)
    links: tuple[Link, ...] = ()  # spec.notify.links, filled in for this run

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_KINDS

    @property
    def emoji(self) -> str:
        return EMOJI.get(self.kind, ":information_source:")


def commit_from(source: Source | None) -> Commit | None:
    if source is None or not source.commit:
        return None
    return Commit(source.commit, source.author, source.message, source.repo, source.path)


def run_id(status: Status) -> str:
    """The identity of the run ``status`` belongs to (its start time), as notifications and their buttons carry it."""
    return f"{status.started_at:.3f}" if status.started_at is not None else ""


def facts(experiment: Experiment, status: Status, note: Notify) -> Facts:
    target = experiment.spec.target
    judged = note.event if isinstance(note.event, Judged) else None
    if judged is None and note.kind in TERMINAL_KINDS:  # "rolled back" comes with the numbers that decided it
        judged = next((h.event for h in reversed(status.history) if isinstance(h.event, Judged)), None)
    return Facts(
        experiment=experiment.key,
        kind=note.kind,
        headline=note.headline,
        reason=note.reason,
        phase=status.phase.value,
        service=target.service,
        stable_version=target.stable.version,
        canary_version=target.canary.version,
        stable_weight=status.traffic.stable_weight,
        canary_weight=status.traffic.canary_weight,
        step=status.step + 1,
        engine=judged.engine if judged else "",
        metrics=judged.metrics if judged else (),
        commit=commit_from(status.source),
        time=status.updated_at,
        run=run_id(status),
        links=links(experiment, status),
    )


def number(value: float | None) -> str:
    """A number for people: 4 significant digits, thousands grouped for counts, inf as ∞."""
    if value is None:
        return "n/a"
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value) and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.4g}"


def json_number(value: float | None) -> float | str | None:
    """A number for JSON: finite floats as they are, infinities as "+Inf"/"-Inf", NaN as null."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def metric_line(m: MetricNumbers, engine: str = "sequential") -> str:
    """One metric's verdict with its numbers, as plain text."""
    parts = [
        f"requests slower than {m.edge}: estimate {number(m.estimate)}" if m.edge else f"estimate {number(m.estimate)}"
    ]
    if m.interval is not None:
        parts.append(f"{interval_name(engine)} [{number(m.interval[0])}, {number(m.interval[1])}]")
    if m.e_value is not None:
        parts.append(f"e-value {number(m.e_value)}{m.mean_of}")
    if m.p_value is not None:
        parts.append(f"p-value {number(m.p_value)}")
    if m.threshold is not None:
        parts.append(f"threshold {number(m.threshold)}")
    parts.append(f"n stable {number(m.stable_n)} / canary {number(m.canary_n)}")
    if m.stable_value is not None or m.canary_value is not None:
        parts.append(f"stable {number(m.stable_value)} vs canary {number(m.canary_value)}")
    return ", ".join(parts)


def as_json(f: Facts) -> dict[str, Any]:
    """The facts as a JSON document (the generic webhook's body)."""
    return {
        "experiment": f.experiment,
        "kind": f.kind,
        "headline": f.headline,
        "reason": f.reason,
        "phase": f.phase,
        "terminal": f.terminal,
        "target": {"service": f.service, "stable": f.stable_version, "canary": f.canary_version},
        "weights": {"stable": f.stable_weight, "canary": f.canary_weight},
        "step": f.step,
        "engine": f.engine,
        "metrics": [
            {
                "metric": m.metric,
                "outcome": m.outcome,
                "reason": m.reason,
                "critical": m.critical,
                "estimate": json_number(m.estimate),
                "interval": [json_number(m.interval[0]), json_number(m.interval[1])] if m.interval else None,
                "eValue": json_number(m.e_value),
                "pValue": json_number(m.p_value),
                "threshold": json_number(m.threshold),
                "stableN": json_number(m.stable_n),
                "canaryN": json_number(m.canary_n),
                "stableValue": json_number(m.stable_value),
                "canaryValue": json_number(m.canary_value),
                "edge": m.edge,
                "edges": m.edges,
                "marginAt": [json_number(x) for x in m.margin_at] if m.margin_at else None,
            }
            for m in f.metrics
        ],
        "commit": (
            {
                "sha": f.commit.sha,
                "author": f.commit.author,
                "message": f.commit.message,
                "repo": f.commit.repo,
                "path": f.commit.path,
            }
            if f.commit
            else None
        ),
        "time": f.time,
        "run": f.run,
        "links": [{"name": link.name, "url": link.url} for link in f.links],
    }
