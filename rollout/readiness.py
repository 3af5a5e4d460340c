"""Whether a canary may be promoted yet, and if not, why, in the words the status and Slack show. Pure.

The machine asks these before it promotes: after a judgement that advances on the last step, the
exposure and the evidence (invariant 4: minRequests served, non-inferiority proven for every
metric); under the ``promote-if-not-critical`` policy, the critical metrics of the latest
judgement; at the deadline, whether the schedule is through. Each answers with a reason, or None
when nothing stands in the way.
"""

from __future__ import annotations

from rollout.events import Event, Judged
from rollout.plan import Kind, RunPlan
from rollout.status import Status


def unfinished(plan: RunPlan, status: Status, step_time: float, judged: str) -> str:
    """Why a canary judged no worse at the deadline is not promoted: its schedule is not through."""
    weight = plan.weights[status.step]
    if status.step + 1 < len(plan.weights):
        left = f"the schedule is at step {status.step + 1} of {len(plan.weights)} ({weight}%)"
    else:
        left = f"the last step ({weight}%) has had {step_time:.0f}s of its {plan.min_step_time:.0f}s"
    return f"{left}; {judged}"


def exposure_shortfall(plan: RunPlan, event: Judged) -> str | None:
    """Why promotion must wait (invariant 4), or None when exposure and evidence suffice."""
    if plan.kind is Kind.CHAOS:
        return None
    if not event.metrics:
        return "no metric evidence of non-inferiority yet"
    not_proven = [m.metric for m in event.metrics if m.outcome != "advance"]
    if not_proven:
        return f"non-inferiority not proven for {', '.join(not_proven)}"
    exposure = max(m.canary_n for m in event.metrics)
    if exposure < plan.min_requests:
        return f"the canary served {exposure:.0f} requests, below minRequests {plan.min_requests}"
    return None


def critical_shortfall(plan: RunPlan, status: Status, event: Event) -> str | None:
    """Why ``promote-if-not-critical`` may not promote, from ``event`` or else the latest judgement in the
    history, or None when every critical metric is proven non-inferior on enough requests."""
    judged = (
        event
        if isinstance(event, Judged)
        else next((e.event for e in reversed(status.history) if isinstance(e.event, Judged)), None)
    )
    if not isinstance(judged, Judged) or not judged.metrics:
        return "there is no judgement to rely on"
    failing = [m.metric for m in judged.metrics if m.metric in plan.critical_metrics and m.outcome != "advance"]
    if failing:
        return f"critical metric(s) {', '.join(failing)} are not proven non-inferior"
    if max(m.canary_n for m in judged.metrics) < plan.min_requests:
        return f"the canary has not served minRequests {plan.min_requests}"
    return None
