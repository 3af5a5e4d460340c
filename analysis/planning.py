"""Pre-flight plan: how long the sequential engine needs to prove a regression or a healthy canary.

Each bad event (an error, or a request slower than an edge) tells which arm it came from. With
canary share w, a rate ratio psi sends it to the canary with probability
pi(psi) = w psi / (w psi + 1 - w). Against the null psi_0, the mixture component with alternative
psi_j gains, per event and on average, KL(pi(psi) || pi(psi_0)) - KL(pi(psi) || pi(psi_j)) nats
(the classic N KL(Bern(pi') || Bern(pi)) rate when psi_j is the truth). The estimate walks the
weight schedule, adds each step's expected events times these gains, and reports the first step
end (the engine decides at step ends) where the mixture of the engine's own grid and weights,
log sum_j w_j exp(gain_j), reaches log(1/alpha).

Why not N = (log(1/alpha) + 1/2 log N) / KL (stats.md §3.2, §5.5)? That is the cost of a
continuous (Dirichlet) mixture, whose Occam penalty grows like 1/2 log N; the engine's fixed
13-point grid pays a constant log(1/w_j) instead. Against seeded simulations of the engine the
formula is right for detection but 2-3x too slow for promotion (tens of thousands of events),
while the grid's own expected evidence is within 1.7x of the simulated median in both (a little
conservative: noise helps a log-sum-exp cross earlier). The 90th percentile is about twice the
median (stats.md §3.2).

- detection: psi = ``regression``, psi_0 = 1 + margin, alternatives above psi_0, at ``alpha``
  (the metric's share of the rollback level, see ``analysis.sequential.rollback_levels``; for a
  latency metric also divide by the number of tested edges);
- promotion: psi = 1 (a healthy canary), alternatives below psi_0, at ``alpha_promote``; the
  canary must also have served ``min_requests``.

With an absolute margin, promotion may instead come from the rate bounds of
``analysis.sequential.absolute``: the estimate is the first step end where the direct bound
p_c+ - p_b- at the expected counts of a healthy canary falls below the margin (the engine takes the
smaller of that and the stratified bound, so it is a little conservative).

Events arrive at request_rate x baseline_rate x ((1 - w) + w psi) per second. After the last step
the canary keeps the last weight (a HOLD keeps the weights), deciding every last-step duration,
for up to ``MAX_EXTENSION_STEPS`` more decisions; estimates past ``max_duration`` carry a warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from analysis.sequential.absolute import rate_lower_bound, rate_upper_bound
from analysis.sequential.evidence import LOG_WEIGHTS, SHIFTS

FloatArray = NDArray[np.float64]

MAX_EXTENSION_STEPS = 20000


@dataclass(frozen=True)
class Plan:
    """Expected times (seconds from the start) and traffic (both arms) to each answer."""

    detect_seconds: float | None  # None: not within the schedule and its extension
    detect_requests: float | None
    detect_bad_events: float | None
    promote_seconds: float | None
    promote_requests: float | None
    horizon_seconds: float  # the schedule's length (max_duration when that is longer)
    warnings: tuple[str, ...]


def _kl(p: FloatArray, q: FloatArray) -> FloatArray:
    """KL(Bern(p) || Bern(q)), elementwise; p and q strictly inside (0, 1)."""
    return np.asarray(p * np.log(p / q) + (1.0 - p) * np.log((1.0 - p) / (1.0 - q)))


def _share(w: FloatArray, psi: float | FloatArray) -> FloatArray:
    return np.asarray(w * psi / (w * psi + 1.0 - w), dtype=float)


def duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _timeline(steps: Sequence[tuple[float, float]]) -> tuple[FloatArray, FloatArray]:
    """(canary share, seconds) per step: the schedule, then its last step held for the extension."""
    timeline = [*steps, *([steps[-1]] * MAX_EXTENSION_STEPS)]
    w = np.clip(np.array([p for p, _ in timeline]) / 100.0, 0.0, 1.0)
    return w, np.array([s for _, s in timeline], dtype=np.float64)


def _walk(
    steps: Sequence[tuple[float, float]],
    request_rate: float,
    baseline_rate: float,
    psi_true: float,
    psi_null: float,
    side: float,
    alpha: float,
    min_canary_requests: float,
) -> tuple[float, float, float] | None:
    """(seconds, requests, bad events) at the first step end where a proof is expected."""
    w, seconds = _timeline(steps)
    informative = (w > 0.0) & (w < 1.0)
    w_safe = np.where(informative, w, 0.5)
    events = np.where(informative, request_rate * baseline_rate * ((1.0 - w) + w * psi_true) * seconds, 0.0)
    truth = _share(w_safe, psi_true)
    alternatives = _share(w_safe[:, None], psi_null * np.exp(side * SHIFTS)[None, :])
    per_event = _kl(truth, _share(w_safe, psi_null))[:, None] - _kl(truth[:, None], alternatives)
    gains = np.cumsum(events[:, None] * per_event, axis=0) + LOG_WEIGHTS[None, :]
    top = gains.max(axis=1)
    evidence = top + np.log(np.exp(gains - top[:, None]).sum(axis=1))
    total_events = np.cumsum(events)
    canary = np.cumsum(request_rate * seconds * w)
    proven = (total_events > 0) & (evidence >= math.log(1.0 / alpha)) & (canary >= min_canary_requests)
    if not proven.any():
        return None
    k = int(np.argmax(proven))
    return float(seconds[: k + 1].sum()), float(request_rate * seconds[: k + 1].sum()), float(total_events[k])


def _canary_served(steps: Sequence[tuple[float, float]], request_rate: float, by: float | None) -> float:
    """The canary's requests by ``by`` seconds, the step under way then counted up to ``by`` (a run's last
    judgement comes at its deadline, so a step cut short by maxDuration still serves); None: the schedule
    and its extension."""
    w, seconds = _timeline(steps)
    served = np.cumsum(request_rate * seconds * w)
    if by is None:
        return float(served[-1])
    return float(np.interp(by, np.concatenate(([0.0], np.cumsum(seconds))), np.concatenate(([0.0], served))))


def _absolute_walk(
    steps: Sequence[tuple[float, float]],
    request_rate: float,
    baseline_rate: float,
    absolute_margin: float,
    alpha_promote: float,
    min_canary_requests: float,
) -> tuple[float, float, float] | None:
    """(seconds, requests, bad events) at the first step end where a healthy canary is expected within the margin."""
    w, seconds = _timeline(steps)
    canary = np.cumsum(request_rate * seconds * w)
    stable = np.cumsum(request_rate * seconds * (1.0 - w))
    quarter = alpha_promote / 4.0

    def proven(k: int) -> bool:
        if canary[k] < max(min_canary_requests, 1.0) or stable[k] <= 0:
            return False
        upper = rate_upper_bound(baseline_rate * canary[k], canary[k], quarter)
        return upper - rate_lower_bound(baseline_rate * stable[k], stable[k], quarter) < absolute_margin

    if not proven(len(w) - 1):
        return None
    low, high = 0, len(w) - 1  # the bound shrinks as both arms serve more: the first proven step
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if proven(middle) else (middle + 1, high)
    total = float(seconds[: low + 1].sum())
    return total, request_rate * total, baseline_rate * request_rate * total


def plan(
    *,
    baseline_rate: float,
    request_rate: float,
    schedule: Sequence[tuple[float, float]],
    margin: float,
    regression: float,
    alpha: float,
    alpha_promote: float,
    min_requests: float = 0.0,
    max_duration: float | None = None,
    what: str = "errors",
    absolute_margin: float | None = None,
    promote_after: float = 0.0,
) -> Plan:
    """Estimate the time to prove a ``regression``-fold increase of ``baseline_rate``, and to promote.

    ``schedule`` lists (canary percent, seconds) steps; ``request_rate`` is both arms' requests
    per second; ``what`` names the bad events in warnings ("errors", "requests slower than 250 ms");
    ``absolute_margin`` (a rate, 0.002 = 0.2 points) is the metric's ``absoluteMargin``, another way to promote;
    ``promote_after`` is the earliest a run may promote (a canary's: its whole schedule, the last step in full).
    """
    warnings: list[str] = []
    steps = [(float(p), float(s)) for p, s in schedule if s > 0]
    horizon = max(sum(s for _, s in steps), max_duration or 0.0)
    usable = (
        baseline_rate > 0 and request_rate > 0 and steps and margin >= 0 and 0 < alpha < 1 and 0 < alpha_promote < 1
    )
    if not usable:
        warnings.append("the plan needs a positive baseline rate, request rate and schedule, and levels in (0, 1)")
        return Plan(None, None, None, None, None, horizon, tuple(warnings))
    psi_null = 1.0 + margin
    rate_text = f"{100 * baseline_rate:.3g}% {what} and {request_rate:g} req/s"
    detection = None
    if regression <= psi_null:
        warnings.append(f"a {regression:g}x regression is within the {100 * margin:g}% margin: it is never proven")
    else:
        detection = _walk(steps, request_rate, baseline_rate, regression, psi_null, 1.0, alpha, 0.0)
        if detection is None:
            warnings.append(f"at {rate_text} the canary would practically never prove a {regression:g}x regression")
        elif max_duration is not None and detection[0] > max_duration:
            warnings.append(
                f"at {rate_text} the canary needs ~{duration_text(detection[0])} to detect a {regression:g}x "
                f"regression, longer than maxDuration {duration_text(max_duration)}"
            )
    promotion = _walk(steps, request_rate, baseline_rate, 1.0, psi_null, -1.0, alpha_promote, min_requests)
    through = promote_after
    margins = f"the {100 * margin:g}% margin"
    remedy = "an absoluteMargin, a wider margin or more traffic helps"
    if absolute_margin is not None and absolute_margin > 0:
        absolute = _absolute_walk(steps, request_rate, baseline_rate, absolute_margin, alpha_promote, min_requests)
        if absolute is not None and (promotion is None or absolute[0] < promotion[0]):
            promotion = absolute
        margins += f" or the {100 * absolute_margin:g}-point absolute margin"
        remedy = "wider margins or more traffic help"
    if promotion is not None and promotion[0] < through:
        promotion = (through, request_rate * through, promotion[2])
    if max_duration is not None and through > max_duration:  # whatever the evidence
        warnings.append(
            f"the schedule takes {duration_text(through)}, longer than maxDuration {duration_text(max_duration)}: "
            "a healthy canary is not promoted and ends INCONCLUSIVE; raise maxDuration or take fewer or shorter steps"
        )
    # late: the proof itself needs longer than maxDuration (a schedule longer than it is said above)
    late = promotion is not None and max_duration is not None and through <= max_duration < promotion[0]
    served = _canary_served(steps, request_rate, max_duration if late else None)
    if (promotion is None or late) and served < min_requests:
        served_text = (
            f"serves ~{served:.3g} requests by maxDuration {duration_text(max_duration)}, fewer than"
            if late and max_duration
            else "never serves"
        )
        warnings.append(
            f"at {request_rate:g} req/s the canary {served_text} minRequests {min_requests:g}: "
            "a healthy canary is not promoted; lower minRequests"
        )
    elif promotion is None or late:
        needs = f"needs ~{duration_text(promotion[0])} to be" if promotion else "would practically never be"
        limit = f", longer than maxDuration {duration_text(max_duration)}" if late and max_duration else ""
        warnings.append(
            f"at {rate_text} a healthy canary {needs} proven within {margins}{limit}: expect INCONCLUSIVE ({remedy})"
        )
    return Plan(
        detect_seconds=detection[0] if detection else None,
        detect_requests=detection[1] if detection else None,
        detect_bad_events=detection[2] if detection else None,
        promote_seconds=promotion[0] if promotion else None,
        promote_requests=promotion[1] if promotion else None,
        horizon_seconds=horizon,
        warnings=tuple(warnings),
    )
