"""What a new generation of an Experiment's spec means for its runs. Pure.

- The first valid spec starts run 1.
- A run executes the spec it started with (``status.runSpec``); editing the spec never changes a
  run under way.
- A new generation whose spec differs starts a new run. If the current run is still under way,
  it is superseded first: aborted with the reason "superseded by generation N" (all traffic back
  to stable, its faults removed), and only when the mesh holds that does the new run start.
- A new generation with the same spec as the run (an edit reverted, a no-op apply) is adopted: the
  run carries on and records the generation. An edit of only ``after``, ``notify`` or ``trigger`` is
  adopted too, and becomes the run's spec: none of them changes what the run does to traffic or how
  it judges (``after`` gates a start, ``trigger`` records where the spec came from, ``notify`` says
  where the messages go), so such an edit neither sends a run under way back to stable nor runs a
  finished release again. A run under way takes a ``notify`` edit at once: it is rebuilt from its
  status with the new notifiers (as after a restart), so a new Slack channel gets the next message.
- An invalid spec changes nothing (invariant 5): the run under way, if any, carries on with its
  own spec, and the problem is reported in the conditions and as an Event until the spec is fixed.
- A finished run whose spec did not change stays finished: restarting it takes a spec change
  (for example a new canary version).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rollout.kube.document import RunInfo, same_spec
from rollout.status import Status


@dataclass(frozen=True)
class Drive:
    """Drive the current run (resume it from its status when it is not running here)."""


@dataclass(frozen=True)
class Idle:
    """The current run is over and the spec is unchanged: nothing to do."""


@dataclass(frozen=True)
class StartRun:
    generation: int


@dataclass(frozen=True)
class Supersede:
    """Abort the current run (back to stable), then start a run of ``generation``."""

    generation: int

    @property
    def reason(self) -> str:
        return f"superseded by generation {self.generation}"


@dataclass(frozen=True)
class Adopt:
    """The new generation's spec does what the run does: record the generation (and ``spec``, the run's
    spec from now on, when it differs in what a run does not depend on) and carry on."""

    generation: int
    then: Drive | Idle
    spec: Mapping[str, Any] | None = None  # None: the run's spec is unchanged
    renotify: bool = False  # ``notify`` changed: a run under way rebuilds its notifiers


@dataclass(frozen=True)
class Reject:
    """The spec is invalid: report it; the current run (if any) carries on with its own spec."""

    problem: str
    then: Drive | Idle | None  # None: there is no run


Step = Drive | Idle | StartRun | Supersede | Adopt | Reject


def next_step(
    generation: int, spec: Mapping[str, Any], problem: str | None, info: RunInfo, status: Status | None
) -> Step:
    """What to do for an Experiment at ``generation`` with ``spec`` (``problem``: why it is invalid)."""
    if info.run == 0 or status is None:
        return Reject(problem, None) if problem is not None else StartRun(generation)
    current: Drive | Idle = Idle() if status.done else Drive()
    if generation <= info.generation:
        return current
    if same_spec(spec, info.spec):
        return Adopt(generation, current)
    if problem is not None:
        return Reject(problem, current)
    if same_spec(_release(spec), _release(info.spec)):
        renotify = not same_spec(_part(spec, "notify"), _part(info.spec, "notify"))
        return Adopt(generation, current, spec=dict(spec), renotify=renotify)
    if status.done:
        return StartRun(generation)
    return Supersede(generation)


ASIDE = frozenset({"after", "notify", "trigger"})  # what a run's traffic and judgement do not depend on


def _release(spec: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """What a run does: the spec without when it may start, where its messages go and where it came from."""
    return {k: v for k, v in spec.items() if k not in ASIDE} if spec is not None else None


def _part(spec: Mapping[str, Any] | None, name: str) -> Mapping[str, Any]:
    """One part of a spec, an absent one as empty (``notify: {}`` and no ``notify`` are the same)."""
    value = spec.get(name) if spec is not None else None
    return value if isinstance(value, Mapping) else {}
