"""Kubernetes Events (events.k8s.io/v1) for every transition, with the reason and the numbers.

``describe`` (pure) turns one history entry into an Event's type, reason, action and note; the note
carries the step, the weights and, for a judgement, each metric's numbers (estimate, interval, e-value
or p-value, sample sizes). ``EventRecorder`` posts them. A repeat (the same regarding object, type,
reason and note) is counted into the first one's ``series`` (count, lastObservedTime), as ``kubectl
describe`` and ``kubectl events`` show it ("x12 over 3h"), and the API is written at a falling rate: the
Event at once, the first repeat's count a minute later at the earliest, then each gap twice the last, up
to an hour (``FIRST_REPEAT_S``, ``MAX_REPEAT_S``). A run stuck on one problem (the mesh refusing a
write, the metric source down: a report a minute) thus costs a handful of writes an hour, not one a
minute; repeats in between wait for the next write, made by the next repeat or, once the problem has
stopped, by ``flush`` (the controller calls it every half minute, and once more as it stops): the series
ends at the count recorded, at most an hour late and with no more writes than the falling rate allows. A
repeat after an hour's quiet is a new occurrence: a new Event, at once. An Event the API server dropped
meanwhile (its TTL, an hour by default, runs from its last write) is posted again with the series so
far. A repeat recorded while the first is being posted, from another thread, waits for it: one Event,
never two. Posting never stops a rollout: failures are logged (once per reason).
Verbs: ``events`` (events.k8s.io) create, patch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s

from rollout.events import Judged, MetricNumbers, interval_name
from rollout.kube.client import KubeError, NotFound, call
from rollout.status import HistoryEntry, Phase

Obj = dict[str, Any]
log = logging.getLogger("meshroll.kube.events")

GROUP, VERSION, PLURAL = "events.k8s.io", "v1", "events"
CONTROLLER = "meshroll.io/controller"
MAX_NOTE = 1024  # events.k8s.io/v1 limit, in bytes
FIRST_REPEAT_S = 60.0  # an Event's series is first written this long after the Event, at the earliest
MAX_REPEAT_S = 3600.0  # the gap between writes doubles up to this; this long without a repeat: a new Event
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
    extras = [("cohort on" if t.ab_active else ""), (f"mirror {t.mirror_percent:g}%" if t.mirror_percent else "")]
    extras.append(f"faults {', '.join(t.faults)}" if t.faults else "")
    head += "".join(f", {x}" for x in extras if x)
    parts = [head, entry.reason]
    if isinstance(entry.event, Judged):
        parts += [_numbers(m, entry.event.engine) for m in entry.event.metrics]
    return clip_note("; ".join(p for p in parts if p))


def _bound(x: float) -> str:
    """An interval's end: an unbounded one as ∞."""
    return ("∞" if x > 0 else "-∞") if math.isinf(x) else f"{x:.4g}"


def _numbers(m: MetricNumbers, engine: str = "sequential") -> str:
    bits = [f"{m.subject} {m.outcome}"]
    if m.estimate is not None:
        bits.append(f"est={m.estimate:.4g}")
    if m.interval is not None:
        bits.append(f"{interval_name(engine).lower()}=[{_bound(m.interval[0])}, {_bound(m.interval[1])}]")
    if m.e_value is not None:
        bits.append(f"e={m.e_value:.3g}{m.mean_of}")
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
    count: int  # times recorded (the Event's series count once it is written)
    first_seen: float
    last_seen: float
    created: bool = False
    reported: int = 0  # the count the Event (and its series) on the API server says
    next_write: float = 0.0  # repeats before this are counted, not sent
    gap: float = FIRST_REPEAT_S  # from the last write to the next one; doubles, up to MAX_REPEAT_S
    regarding: Mapping[str, Any] = field(default_factory=dict)  # what a later write (``flush``) needs
    text: EventText | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # its create, and each write of its series


class EventRecorder:
    """Posts Events about Experiments; counts repeats into a series, written at a falling rate."""

    def __init__(
        self, api: k8s.ApiClient, *, instance: str, clock: Callable[[], float] = time.time, enabled: bool = True
    ) -> None:
        self._api = k8s.CustomObjectsApi(api)
        self.instance = instance
        self.clock = clock
        self.enabled = enabled
        self.posted = 0  # Events created
        self.deduplicated = 0  # repeats counted into an Event's series (written now or later)
        self.series_writes = 0  # writes of a series (a patch, or the Event posted again)
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
        with self._lock:  # the entry is claimed before anything is posted: a second record waits for the create
            seen = self._seen.get(key)
            if seen is None or now - seen.last_seen > MAX_REPEAT_S:
                seen = self._seen[key] = _Posted(_event_name(regarding, text, now), 0, now, now)
                seen.regarding, seen.text = dict(regarding), text
            self._seen.move_to_end(key)
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)
            seen.count += 1
            seen.last_seen = now
        with seen.lock:
            if not seen.created:
                try:
                    self._create(regarding, text, namespace, seen.name, seen.first_seen, None)
                except KubeError:
                    with self._lock:
                        seen.count -= 1  # not posted: the next record of it creates the Event
                    raise
                seen.created, seen.reported, seen.next_write = True, 1, now + seen.gap
                return  # repeats recorded while it was being created go out with the next write
            with self._lock:
                self.deduplicated += 1
            if now >= seen.next_write:
                self._write_series(regarding, text, namespace, seen, now)

    def flush(self, *, force: bool = False) -> None:
        """Write the series of every Event with repeats not yet written whose next write is due (``force``: all
        of them, as the controller stops); forget Events an hour quiet and fully written."""
        if not self.enabled:
            return
        now = self.clock()
        with self._lock:
            pending = [s for s in self._seen.values() if s.created and s.count > s.reported]
            for key in [k for k, s in self._seen.items() if s.count <= s.reported and now - s.last_seen > MAX_REPEAT_S]:
                del self._seen[key]
        for seen in pending:
            if seen.text is None or not (force or now >= seen.next_write):
                continue
            namespace = str(seen.regarding.get("namespace") or "default")
            try:
                with seen.lock:
                    self._write_series(seen.regarding, seen.text, namespace, seen, now)
            except KubeError as exc:
                if seen.text.reason not in self._failed_reasons:
                    self._failed_reasons.add(seen.text.reason)
                    log.warning("could not update a %s Event: %s", seen.text.reason, exc)

    def _write_series(
        self, regarding: Mapping[str, Any], text: EventText, namespace: str, seen: _Posted, now: float
    ) -> None:
        """Set the Event's series to the count recorded so far (under ``seen.lock``: the writes go in order);
        an Event the API server has dropped meanwhile is posted again, with that series."""
        with self._lock:
            count, last_seen = seen.count, seen.last_seen
        if count <= seen.reported:
            return
        series = {"count": count, "lastObservedTime": micro_time(last_seen)}
        try:
            call(
                f"updating Event {namespace}/{seen.name}",
                lambda: self._api.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, seen.name, {"series": series}
                ),
            )
        except NotFound:  # expired (its TTL runs from its last write): the same Event again, with what it counted
            name = _event_name(regarding, text, now)
            self._create(regarding, text, namespace, name, seen.first_seen, series)
            seen.name = name
        seen.reported = count
        seen.gap = min(seen.gap * 2, MAX_REPEAT_S)
        seen.next_write = now + seen.gap
        self.series_writes += 1

    def _create(
        self,
        regarding: Mapping[str, Any],
        text: EventText,
        namespace: str,
        name: str,
        first_seen: float,
        series: Mapping[str, Any] | None,
    ) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "eventTime": micro_time(first_seen),
            "reportingController": CONTROLLER,
            "reportingInstance": self.instance[:128],
            "action": text.action,
            "reason": text.reason,
            "type": text.type,
            "note": clip_note(text.note),
            "regarding": {k: v for k, v in regarding.items() if v is not None},
        }
        if series is not None:
            body["series"] = dict(series)
        call(
            f"posting Event {text.reason} about {regarding.get('namespace')}/{regarding.get('name')}",
            lambda: self._api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body),
        )
        self.posted += 1


def _event_name(regarding: Mapping[str, Any], text: EventText, now: float) -> str:
    digest = hashlib.sha256(f"{text.reason}|{text.note}|{now}".encode()).hexdigest()[:10]
    return f"{regarding.get('name')}.{digest}"
