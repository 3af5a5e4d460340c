"""The Experiment's ``.status`` as stored by the controller. Pure.

``.status`` holds meshroll's own Status (camelCase, as ``meshroll run --status-out`` writes it:
phase, step, traffic, trafficApplied, history, ...) and, alongside it, what Kubernetes and the
controller need:

- ``observedGeneration``: the newest ``metadata.generation`` the controller has looked at;
- ``run``: the revision counter, 1 for the first run, +1 for every new generation that starts one;
- ``runGeneration`` and ``runSpec``: the generation and the spec the current run executes (a
  restart, or a supersede, works from these, never from a spec edited since);
- ``previousRuns``: a short summary of earlier runs (the last ``MAX_PREVIOUS_RUNS``);
- ``lastCommand``: the ``meshroll.io/command`` annotation value handled last;
- ``controller``: the identity of the replica that wrote the status;
- ``conditions``: Progressing, Promoted, RolledBack, Ready (see ``conditions``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from rollout.status import Status

Obj = dict[str, Any]
log = logging.getLogger("meshroll.kube")

MAX_PREVIOUS_RUNS = 10
KUBE_FIELDS = (
    "observedGeneration",
    "run",
    "runGeneration",
    "runSpec",
    "previousRuns",
    "lastCommand",
    "controller",
    "conditions",
)
_STATUS_KEYS = frozenset(name for key, f in Status.model_fields.items() for name in (key, f.alias) if name is not None)


@dataclass(frozen=True)
class RunInfo:
    """What the controller keeps about runs, next to meshroll's Status."""

    run: int = 0
    generation: int = 0
    spec: Obj | None = None
    observed_generation: int = 0
    previous: tuple[Obj, ...] = ()
    last_command: str = ""

    def next_run(self, generation: int, spec: Obj, finished: Status | None) -> RunInfo:
        """The info of a new run of ``generation``, with the current one summed up in ``previous``."""
        previous = self.previous
        if self.run > 0 and finished is not None:
            previous = (*previous, run_summary(self, finished))[-MAX_PREVIOUS_RUNS:]
        return replace(
            self, run=self.run + 1, generation=generation, spec=spec, observed_generation=generation, previous=previous
        )


@dataclass(frozen=True)
class StoredStatus:
    """A parsed ``.status``: meshroll's Status (None before the first run), the run info, the conditions."""

    status: Status | None
    info: RunInfo = field(default_factory=RunInfo)
    conditions: tuple[Obj, ...] = ()


def split(raw: Mapping[str, Any] | None) -> StoredStatus:
    """Parse an Experiment's ``.status``; an unreadable meshroll part counts as no run yet (logged)."""
    if not raw:
        return StoredStatus(None)
    info = RunInfo(
        run=_int(raw.get("run")),
        generation=_int(raw.get("runGeneration")),
        spec=raw.get("runSpec") if isinstance(raw.get("runSpec"), dict) else None,
        observed_generation=_int(raw.get("observedGeneration")),
        previous=tuple(p for p in raw.get("previousRuns") or () if isinstance(p, dict)),
        last_command=str(raw.get("lastCommand") or ""),
    )
    conditions = tuple(c for c in raw.get("conditions") or () if isinstance(c, dict))
    own = {k: v for k, v in raw.items() if k in _STATUS_KEYS}
    status: Status | None = None
    if info.run > 0 and own:
        try:
            status = Status.model_validate(own)
        except ValidationError as exc:
            log.warning("the stored status cannot be read (%s); the run is treated as not started", exc.error_count())
    return StoredStatus(status, info, conditions)


KEEP_JUDGEMENTS = 20
"""Judgements whose per-metric numbers ``.status`` keeps: the 20 most recent and the last of each step."""


def compact_history(history: list[Obj]) -> list[Obj]:
    """The stored history, with the per-metric numbers of older judgements left out.

    A judgement records about 1 KB per metric, and a run judges every interval: kept whole, a
    20-metric experiment would outgrow the 1.5 MiB a Kubernetes object may hold within two hours.
    Each step's last judgement (the one a report shows) and the ``KEEP_JUDGEMENTS`` most recent
    keep their numbers; every entry keeps its time, outcome and reason, which is all a restarted
    controller needs to re-collect its evidence. The running controller keeps the whole history.
    """
    judged = [i for i, e in enumerate(history) if (e.get("event") or {}).get("type") == "judged"]
    keep = set(judged[-KEEP_JUDGEMENTS:])
    last_of_step: dict[object, int] = {}
    for i in judged:
        last_of_step[history[i].get("step")] = i
    keep.update(last_of_step.values())
    dropped = set(judged) - keep
    out = []
    for i, entry in enumerate(history):
        event = entry.get("event") or {}
        if i in dropped and event.get("metrics"):
            entry = {**entry, "event": {**event, "metrics": []}}
        out.append(entry)
    return out


def compose(status: Status | None, info: RunInfo, conditions: list[Obj], controller: str) -> Obj:
    """The whole ``.status`` to write."""
    body: Obj = json.loads(status.model_dump_json(by_alias=True)) if status is not None else {}  # inf, NaN -> null
    if "history" in body:
        body["history"] = compact_history(body["history"])
    body.update(
        {
            "observedGeneration": info.observed_generation,
            "run": info.run,
            "runGeneration": info.generation,
            "previousRuns": list(info.previous),
            "lastCommand": info.last_command,
            "controller": controller,
            "conditions": conditions,
        }
    )
    if info.spec is not None:
        body["runSpec"] = info.spec
    return body


def run_summary(info: RunInfo, status: Status) -> Obj:
    """One line of ``previousRuns``."""
    canary = ((info.spec or {}).get("target") or {}).get("canary") or {}
    return {
        "run": info.run,
        "generation": info.generation,
        "canaryVersion": str(canary.get("version", "")),
        "phase": status.phase.value,
        "reason": status.reason,
        "startedAt": status.started_at,
        "finishedAt": status.updated_at,
    }


def same_history(stored: Status, ours: Status) -> bool:
    """Whether ``stored``'s history is a prefix of ``ours`` (compared as stored: inf and NaN read back as
    null, and without the per-metric numbers ``compact_history`` leaves out)."""
    theirs = [_comparable(json.loads(entry.model_dump_json())) for entry in stored.history]
    mine = [_comparable(json.loads(entry.model_dump_json())) for entry in ours.history[: len(theirs)]]
    return theirs == mine


def _comparable(entry: Obj) -> str:
    event = {k: v for k, v in (entry.get("event") or {}).items() if k != "metrics"}
    return json.dumps({**entry, "event": event}, sort_keys=True)


def same_spec(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two specs are the same document (key order aside)."""
    return a is not None and b is not None and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
