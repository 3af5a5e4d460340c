"""The links an experiment's notifications carry (``spec.notify.links``), filled in for one run. Pure.

Each value is percent-encoded before it goes into the URL, so a version like ``v2+build.7`` or a
namespace cannot change the URL's shape. ``{end}`` is ``now`` while the run goes on, so a
dashboard opened from a message that is kept current shows the run up to the moment of the click.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from rollout.spec.models import Experiment
from rollout.status import Status


@dataclass(frozen=True)
class Link:
    name: str
    url: str


def _millis(seconds: float | None) -> str:
    return "now" if seconds is None else str(int(seconds * 1000))


def link_values(experiment: Experiment, status: Status) -> dict[str, str]:
    target = experiment.spec.target
    ended = status.phase.terminal
    return {
        "namespace": experiment.metadata.namespace,
        "name": experiment.metadata.name,
        "service": target.service,
        "stable": target.stable.version,
        "canary": target.canary.version,
        "start": _millis(status.started_at if status.started_at is not None else status.updated_at),
        "end": _millis(status.updated_at if ended else None),
        "commit": status.source.commit if status.source is not None else "",
    }


def links(experiment: Experiment, status: Status) -> tuple[Link, ...]:
    """Every link of the experiment with its placeholders filled in for ``status``'s run."""
    values = {key: quote(value, safe="") for key, value in link_values(experiment, status).items()}
    return tuple(Link(link.name, link.url.format_map(values)) for link in experiment.spec.notify.links)
