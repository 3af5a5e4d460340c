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
- ``queuedGeneration`` and ``queuedSince``: the generation that waits for a free run slot
  (``--max-concurrent-runs``) and when the controller first queued it (its place in line, see
  ``admission.py``); cleared when a run starts;
- ``controller``: the identity of the replica that wrote the status;
- ``conditions``: Progressing, Promoted, RolledBack, Ready (see ``conditions``);
- ``state``, ``currentStep`` and ``meshWeight``, for ``kubectl get experiments`` (the CRD's printer columns
  read them): the phase, or the ``Ready`` reason that holds the Experiment back
  (``conditions.display_state``); the step counted from 1, as the Events and conditions count it
  (``step`` is the schedule's index); and the canary weight the mesh took last (``traffic`` is the
  intent, which a mesh refusing the write does not hold).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from rollout.history import thinned
from rollout.kube.conditions import display_state
from rollout.status import Status
from rollout.windows import split_in_force

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
    "queuedGeneration",
    "queuedSince",
    "controller",
    "conditions",
    "state",
    "currentStep",
    "meshWeight",
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
    queued_generation: int = 0  # waits for a run slot since queued_since (RFC 3339); 0: not queued
    queued_since: str = ""

    def next_run(self, generation: int, spec: Obj, finished: Status | None) -> RunInfo:
        """The info of a new run of ``generation``, with the current one summed up in ``previous``."""
        previous = self.previous
        if self.run > 0 and finished is not None:
            previous = (*previous, run_summary(self, finished))[-MAX_PREVIOUS_RUNS:]
        return replace(
            self,
            run=self.run + 1,
            generation=generation,
            spec=spec,
            observed_generation=generation,
            previous=previous,
            queued_generation=0,
            queued_since="",
        )


@dataclass(frozen=True)
class StoredStatus:
    """A parsed ``.status``: meshroll's Status (None before the first run), the run info, the conditions."""

    status: Status | None
    info: RunInfo = field(default_factory=RunInfo)
    conditions: tuple[Obj, ...] = ()
    edited: str = ""  # what of the status was edited by hand (and is read from its history instead)


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
        queued_generation=_int(raw.get("queuedGeneration")),
        queued_since=str(raw.get("queuedSince") or ""),
    )
    conditions = tuple(c for c in raw.get("conditions") or () if isinstance(c, dict))
    own = _own(raw)
    status: Status | None = None
    edited = ""
    if info.run > 0 and own:
        try:
            status = Status.model_validate(own)
        except ValidationError as exc:
            log.warning("the stored status cannot be read (%s); the run is treated as not started", exc.error_count())
        if status is not None:
            status, edited = _as_recorded(status, info.run)
    return StoredStatus(status, info, conditions, edited)


def _as_recorded(status: Status, run: int) -> tuple[Status, str]:
    """``status`` with its phase, step and traffic as its history records them, and what differed.

    The machine records every change of these in the history; a status whose top-level fields
    disagree with its last entry was edited by hand (``kubectl edit --subresource=status``): the
    run goes on as recorded, rather than ending (or moving) where no decision took it."""
    if not status.history:
        return status, ""
    last = status.history[-1]
    recorded = {"phase": last.to_phase, "step": last.step, "traffic": last.traffic}
    changed = [key for key, value in recorded.items() if getattr(status, key) != value]
    if not changed:
        return status, ""
    said = {"phase": status.phase.value, "step": status.step + 1, "traffic": f"canary {status.traffic.canary_weight}%"}
    edits = ", ".join(f"{key} {said[key]}" for key in changed)
    message = (
        f"the status was edited by hand ({edits}), but run {run} recorded {last.to_phase.value}, step "
        f"{last.step + 1}, canary {last.traffic.canary_weight}%: meshroll does not follow such edits, the run goes "
        "on as recorded; steer a run with the annotation meshroll.io/command (pause, resume, promote, abort)"
    )
    return status.model_copy(update=recorded), message


def _own(raw: Mapping[str, Any]) -> Obj:
    """meshroll's own Status fields of a stored ``.status``, its packed history unpacked."""
    own = {k: v for k, v in raw.items() if k in _STATUS_KEYS}
    if raw.get("earlierHistory") and isinstance(own.get("history"), list):
        own["history"] = unpack_history(raw["earlierHistory"]) + own["history"]
    return own


def status_of(document: object) -> Status | None:
    """meshroll's Status from a status file, an Experiment object or its ``.status`` (None: no run yet).

    Raises ValidationError when it is none of these, ValueError when it is not a JSON object.
    """
    if not isinstance(document, dict):
        kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
        raise ValueError(f"the top level is {kinds.get(type(document), 'null')}")
    if document.get("kind") == "Experiment" or "spec" in document:
        document = document.get("status") or {}
        if not isinstance(document, dict):
            return None
    if not document:  # an empty .status (kubectl -o jsonpath='{.status}' before the first run)
        return None
    if any(name in document for name in KUBE_FIELDS):
        stored = split(document)
        if stored.status is None and stored.info.run > 0:
            return Status.model_validate(_own(document))  # raises with the reason split could not read it
        return stored.status
    return Status.model_validate(document)


KEEP_ENTRIES = 300
"""History entries ``.status.history`` holds as they are; older ones are packed into ``earlierHistory``."""


def pack_history(history: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(earlierHistory, history): the newest ``KEEP_ENTRIES`` entries as they are, and the older ones
    packed, so that weeks of judgements fit in one Kubernetes object.

    An older entry loses its reasons (they went to the Events, the log and Slack when it was made);
    runs of entries that are then equal but for their time become one ``{"entry": ..., "times":
    [...]}``: a week of 1-minute holds in one step is one entry and 10,080 numbers. Times, events,
    outcomes, steps and traffic stay, so the machine replays and the evidence is re-collected
    exactly as from the whole history.
    """
    older, newer = history[:-KEEP_ENTRIES], history[-KEEP_ENTRIES:]
    packed: list[Obj] = []
    for entry in older:
        event = dict(entry.get("event") or {})
        if "reason" in event:
            event["reason"] = ""
        shape = {k: v for k, v in entry.items() if k != "time"} | {"event": event, "reason": ""}
        if packed and packed[-1]["entry"] == shape:
            packed[-1]["times"].append(entry.get("time"))
        else:
            packed.append({"entry": shape, "times": [entry.get("time")]})
    return packed, newer


def unpack_history(packed: object) -> list[Obj]:
    """The entries ``pack_history`` packed, in order (anything unreadable is skipped)."""
    out: list[Obj] = []
    for run in packed if isinstance(packed, list) else ():
        if isinstance(run, dict) and isinstance(run.get("entry"), dict) and isinstance(run.get("times"), list):
            out.extend({**run["entry"], "time": t} for t in run["times"])
    return out


def compose(status: Status | None, info: RunInfo, conditions: list[Obj], controller: str) -> Obj:
    """The whole ``.status`` to write."""
    if status is not None:  # the machine thins as it records; this covers a history an older meshroll wrote
        status = status.model_copy(update={"history": thinned(status.history)})
    body: Obj = json.loads(status.model_dump_json(by_alias=True)) if status is not None else {}  # inf, NaN -> null
    if "history" in body:
        body["earlierHistory"], body["history"] = pack_history(body["history"])
    body.update(
        {
            "observedGeneration": info.observed_generation,
            "run": info.run,
            "runGeneration": info.generation,
            "previousRuns": list(info.previous),
            "lastCommand": info.last_command,
            "controller": controller,
            "conditions": conditions,
            "state": display_state(status, conditions),
        }
    )
    if status is not None and status.step >= 0:
        body["currentStep"] = status.step + 1  # as the Events and conditions say it ("step 1" is index 0)
    if status is not None:
        body["meshWeight"] = split_in_force(status.history)[0]
    if info.spec is not None:
        body["runSpec"] = info.spec
    if info.queued_generation:
        body["queuedGeneration"] = info.queued_generation
        body["queuedSince"] = info.queued_since
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
    null, and without the per-metric numbers and reasons that storing leaves out of older entries)."""
    theirs = [_comparable(json.loads(entry.model_dump_json())) for entry in stored.history]
    mine = [_comparable(json.loads(entry.model_dump_json())) for entry in ours.history[: len(theirs)]]
    return theirs == mine


def _comparable(entry: Obj) -> str:
    """An entry without what storing may leave out: the per-metric numbers and the reasons."""
    event = {k: v for k, v in (entry.get("event") or {}).items() if k not in ("metrics", "reason")}
    return json.dumps({k: v for k, v in entry.items() if k != "reason"} | {"event": event}, sort_keys=True)


def same_spec(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two specs are the same document (key order aside)."""
    return a is not None and b is not None and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
