"""The chaos journal: when each fault was on, and what it measurably did. Pure.

Like Chaos Toolkit's journal, every run leaves one; unlike it, each fault's effect is measured from
the mesh's own client-side counts (Envoy's ``response_flags``: FI for an injected abort, DI for a
delay) and compared with what was configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from scipy.stats import beta

from chaos.faults import Fault


class ClientCounts(Protocol):
    """Cumulative client-side (source reporter) counts of one version."""

    @property
    def requests(self) -> float: ...

    @property
    def by_flags(self) -> dict[str, float]: ...

    @property
    def sum_ms(self) -> float: ...


def exact_interval(successes: float, trials: float, level: float = 0.999) -> tuple[float, float]:
    """Clopper-Pearson interval for a binomial proportion."""
    if trials <= 0:
        return (0.0, 1.0)
    tail = (1 - level) / 2
    low = 0.0 if successes <= 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes >= trials else float(beta.ppf(1 - tail, successes + 1, trials - successes))
    return (low, high)


def _flagged(counts: ClientCounts, flag: str) -> float:
    return sum(n for flags, n in counts.by_flags.items() if flag in flags.split(","))


@dataclass
class FaultInterval:
    on: float
    off: float | None = None
    requests: float = 0.0
    affected: float = 0.0
    measured_percent: float | None = None
    interval_999: tuple[float, float] | None = None
    mean_latency_ms: float | None = None  # of the affected arm's requests while the fault was on
    added_delay_ms: float | None = None  # per delayed request: client-side minus backend time
    within_interval: bool | None = None  # the configured percent lies in the measured 99.9% interval


@dataclass
class FaultRecord:
    id: str
    arm: str
    kind: str  # "delay", "abort" or "delay+abort"
    configured: dict[str, Any]
    intervals: list[FaultInterval] = field(default_factory=list)


@dataclass
class Journal:
    """What one run injected and what came of it. ``ended`` is when the experiment ended: its run's end, or
    the recovery check after it (``recovery``: its time, verdict and reason), so every event lies between
    ``started`` and ``ended``; ``outcome`` is the run's final phase and reason."""

    experiment: str
    started: float
    faults: dict[str, FaultRecord] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ended: float | None = None
    outcome: str = ""
    recovery: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["faults"] = list(data["faults"].values())
        return data


def record_for(fault: Fault) -> FaultRecord:
    configured: dict[str, Any] = {}
    kinds = []
    if fault.delay is not None:
        kinds.append("delay")
        configured["delay"] = {"fixedMs": fault.delay.fixed_ms, "percent": fault.delay.percent}
    if fault.abort is not None:
        kinds.append("abort")
        abort = fault.abort
        code: dict[str, Any] = (
            {"httpStatus": abort.http_status} if abort.http_status is not None else {"grpcStatus": abort.grpc_status}
        )
        configured["abort"] = {"percent": abort.percent, **code}
    if fault.cohort:
        configured["cohort"] = True
    return FaultRecord(fault.id, fault.arm.value, "+".join(kinds), configured)


Counts = Mapping[str, ClientCounts]


def measure(
    record: FaultRecord,
    interval: FaultInterval,
    before: tuple[Counts, Counts],
    after: tuple[Counts, Counts],
    versions: Mapping[str, str],
) -> None:
    """Fill ``interval``'s measured effect from counts taken when the fault went on and off.

    ``before`` and ``after`` are (client view, backend view) pairs: the client view (Envoy's source
    reporter) counts injected faults, the backend view (destination reporter) times only the backend,
    so their difference in total time over the delayed requests is the delay the fault added.
    ``versions`` maps arm names ("stable", "canary") to version names. With a cohort, the share is
    over every request of the arm, so it reads below the configured percent; it is reported, not judged.
    """
    arms = ["stable", "canary"] if record.arm == "both" else [record.arm]
    requests = affected = latency = backend_latency = delayed = 0.0
    flag = "FI" if "abort" in record.kind else "DI"
    for arm in arms:
        version = versions[arm]
        if version not in after[0]:
            continue
        now, then = after[0][version], before[0].get(version)
        requests += now.requests - (then.requests if then else 0.0)
        affected += _flagged(now, flag) - (_flagged(then, flag) if then else 0.0)
        delayed += _flagged(now, "DI") - (_flagged(then, "DI") if then else 0.0)
        latency += now.sum_ms - (then.sum_ms if then else 0.0)
        backend_now, backend_then = after[1].get(version), before[1].get(version)
        if backend_now is not None:
            backend_latency += backend_now.sum_ms - (backend_then.sum_ms if backend_then else 0.0)
    interval.requests, interval.affected = requests, affected
    if delayed > 0 and "delay" in record.kind:
        interval.added_delay_ms = (latency - backend_latency) / delayed
    if requests > 0:
        interval.measured_percent = 100.0 * affected / requests
        low, high = exact_interval(affected, requests)
        interval.interval_999 = (100.0 * low, 100.0 * high)
        interval.mean_latency_ms = latency / requests
        configured = record.configured.get("abort" if flag == "FI" else "delay", {}).get("percent")
        if configured is not None and "cohort" not in record.configured:
            interval.within_interval = 100.0 * low <= float(configured) <= 100.0 * high
