"""Kubernetes Events (events.k8s.io/v1) for every transition, with the reason and the numbers.

``describe`` (pure) turns one history entry into an Event's type, reason, action and note; the
note carries the step, the weights and, for a judgement, each metric's numbers (estimate,
interval, e-value or p-value, sample sizes). ``EventRecorder`` posts them: an Event whose
regarding object, reason and note repeat one already posted within ``DEDUPE_WINDOW_S`` is not
posted again; the first one's ``series`` (count, lastObservedTime) is updated instead, as
``kubectl events`` shows it. Posting never stops a rollout: failures are logged (once per reason).
Verbs: ``events`` (events.k8s.io) create, patch.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from rollout.events import Judged, MetricNumbers
from rollout.kube.client import KubeError, call
from rollout.status import HistoryEntry, Phase

Obj = dict[str, Any]
log = logging.getLogger("meshroll.kube.events")

GROUP, VERSION, PLURAL = "events.k8s.io", "v1", "events"
CONTROLLER = "meshroll.io/controller"
MAX_NOTE = 1024  # events.k8s.io/v1 limit, in bytes
DEDUPE_WINDOW_S = 600.0
CACHE_SIZE = 4096

_PHASE_REASONS = {
    Phase.PROGRESSING: "Progressing",
    Phase.PAUSED: "Paused",
    Phase.PROMOTING: "Promoting",
    Phase.SUCCEEDED: "Succeeded",
    Phase.ROLLING_BACK: "RollingBack",
    Phase.ROLLED_BACK: "RolledBack",
    Phase.ABORTED: "Aborted",
    Phase.INCONCLUSIVE: "Inconclusive",
}
_WARNING_REASONS = frozenset({"RollingBack", "RolledBack", "Aborted", "Inconclusive", "Halted", "MetricsUnavailable"})


@dataclass(frozen=True)
class EventText:
    type: str  # Normal | Warning
    reason: str  # CamelCase
    action: str  # what the controller did
    note: str


def describe(entry: HistoryEntry, run: int, previous: HistoryEntry | None = None) -> EventText:
    """The Event for one history entry (a transition of the state machine); ``previous`` is the entry before it."""
    event = entry.event
    if event.type == "start":
        reason, action = "Started", "Start"
    elif entry.to_phase != entry.from_phase:
        reason, action = _PHASE_REASONS.get(entry.to_phase, entry.to_phase.value), "Transition"
        if event.type == "halt":
            reason = "Halted"
        elif event.type == "command" and entry.to_phase is Phase.PROGRESSING:
            reason = "Resumed"
    elif event.type == "judged":
        moved = previous is not None and entry.step != previous.step
        reason, action = ("Advanced" if moved else "Holding"), "Judge"
    else:
        reason = {
            "applied": "TrafficApplied",
            "no-data": "NoData",
            "metrics-unavailable": "MetricsUnavailable",
            "tick": "FaultScheduleChanged",
            "command": "CommandIgnored",
        }.get(event.type, "Recorded")
        action = "Route" if event.type in ("applied", "tick") else "Judge"
    kind = "Warning" if reason in _WARNING_REASONS else "Normal"
    return EventText(kind, reason, action, _note(entry, run))


def _note(entry: HistoryEntry, run: int) -> str:
    t = entry.traffic
    head = f"run {run}, step {entry.step + 1}, {entry.to_phase.value}: "
    head += f"stable {t.stable_weight}% / canary {t.canary_weight}%"
    extras = [("A/B cohort on" if t.ab_active else ""), (f"mirror {t.mirror_percent:g}%" if t.mirror_percent else "")]
    extras.append(f"faults {', '.join(t.faults)}" if t.faults else "")
    head += "".join(f", {x}" for x in extras if x)
    parts = [head, entry.reason]
    if isinstance(entry.event, Judged):
        parts += [_numbers(m) for m in entry.event.metrics]
    return clip_note("; ".join(p for p in parts if p))


def _numbers(m: MetricNumbers) -> str:
    bits = [f"{m.metric} {m.outcome}"]
    if m.estimate is not None:
        bits.append(f"est={m.estimate:.4g}")
    if m.interval is not None:
        bits.append(f"ci=[{m.interval[0]:.4g}, {m.interval[1]:.4g}]")
    if m.e_value is not None:
        bits.append(f"e={m.e_value:.3g}")
    if m.p_value is not None:
        bits.append(f"p={m.p_value:.3g}")
    if m.stable_value is not None and m.canary_value is not None:
        bits.append(f"stable={m.stable_value:.4g} canary={m.canary_value:.4g}")
    bits.append(f"n={m.stable_n:.0f}/{m.canary_n:.0f}")
    return " ".join(bits)


def clip_note(text: str) -> str:
    """``text`` cut to the MAX_NOTE bytes an Event's note may hold (the recorder clips every note)."""
    raw = text.encode()
    if len(raw) <= MAX_NOTE:
        return text
    return raw[: MAX_NOTE - 3].decode(errors="ignore") + "..."


def micro_time(seconds: float) -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class _Posted:
    name: str
    count: int
    first_seen: float


class EventRecorder:
    """Posts Events about Experiments; deduplicates repeats into a series."""

    def __init__(
        self, api: k8s.ApiClient, *, instance: str, clock: Callable[[], float] = time.time, enabled: bool = True
    ) -> None:
        self._api = k8s.CustomObjectsApi(api)
        self.instance = instance
        self.clock = clock
        self.enabled = enabled
        self.posted = 0
        self.deduplicated = 0
        self._lock = threading.Lock()
        self._seen: OrderedDict[tuple[str, str, str, str], _Posted] = OrderedDict()
        self._failed_reasons: set[str] = set()

    def transition(
        self, regarding: Mapping[str, Any], entry: HistoryEntry, run: int, previous: HistoryEntry | None = None
    ) -> None:
        self.record(regarding, describe(entry, run, previous))

    def record(self, regarding: Mapping[str, Any], text: EventText) -> None:
        if not self.enabled:
            return
        try:
            self._record(regarding, text)
        except KubeError as exc:
            if text.reason not in self._failed_reasons:
                self._failed_reasons.add(text.reason)
                log.warning("could not post a %s Event: %s", text.reason, exc)

    def _record(self, regarding: Mapping[str, Any], text: EventText) -> None:
        now = self.clock()
        namespace = str(regarding.get("namespace") or "default")
        key = (str(regarding.get("uid") or regarding.get("name")), text.type, text.reason, text.note)
        with self._lock:
            seen = self._seen.get(key)
            if seen is not None and now - seen.first_seen > DEDUPE_WINDOW_S:
                del self._seen[key]
                seen = None
            if seen is not None:
                seen.count += 1
                count, name = seen.count, seen.name
            else:
                count, name = 1, _event_name(regarding, text, now)
        if count > 1:
            patch = {"series": {"count": count, "lastObservedTime": micro_time(now)}}
            call(
                f"updating Event {namespace}/{name}",
                lambda: self._api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch),
            )
            self.deduplicated += 1
            return
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": micro_time(now),
            "reportingController": CONTROLLER,
            "reportingInstance": self.instance[:128],
            "action": text.action,
            "reason": text.reason,
            "type": text.type,
            "note": clip_note(text.note),
            "regarding": {k: v for k, v in regarding.items() if v is not None},
        }
        call(
            f"posting Event {text.reason} about {regarding.get('namespace')}/{regarding.get('name')}",
            lambda: self._api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body),
        )
        self.posted += 1
        with self._lock:
            self._seen[key] = _Posted(name, 1, now)
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)


def _event_name(regarding: Mapping[str, Any], text: EventText, now: float) -> str:
    digest = hashlib.sha256(f"{text.reason}|{text.note}|{now}".encode()).hexdigest()[:10]
    return f"{regarding.get('name')}.{digest}"
