"""Whether a canary may be promoted yet, and if not, why, in the words the status and Slack show. Pure.

The machine asks these before it promotes: after a judgement that advances on the last step, the
exposure and the evidence (invariant 4: minRequests served, non-inferiority proven for every
metric); under the ``promote-if-not-critical`` policy, the critical metrics of the latest
judgement; at the deadline, whether the schedule is through, and what to change so that the next
run decides. Each answers with a reason, or None when nothing stands in the way.

minRequests counts the requests the canary served over the whole run, as every engine counts them
for its own gate (``Decision.canary_requests``): not a verdict's sample size, which is Kayenta's
points per arm, the threshold engine's latest window, or a gauge's samples.
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


NEXT_TIME = "meshroll plan FILE estimates how long a decision takes; a wider margin or an absoluteMargin decides sooner"


def canary_requests(event: Judged) -> float:
    """The requests the canary served over the run, as the engine counted them for minRequests; from an engine
    that does not say (a plugin), its verdicts' largest ``canary_n``, as docs/plugins.md promises."""
    if event.canary_requests is not None:
        return event.canary_requests
    return max((m.canary_n for m in event.metrics), default=0.0)


def schedule_advice(plan: RunPlan) -> str:
    """What to change when the deadline came before the schedule was through."""
    schedule = (len(plan.weights) - 1) * plan.step_interval + plan.min_step_time
    return f"raise maxDuration to at least the schedule's {schedule:.0f}s, or take fewer or shorter steps"


def deadline_advice(plan: RunPlan, event: Judged) -> str:
    """What to change so that the next run decides, when the deadline came with the schedule through (or the
    engine still undecided): the canary's requests if they fell short of minRequests, else the evidence."""
    if event.metrics and canary_requests(event) < plan.min_requests:
        return (
            f"the canary needs more requests before the deadline to reach minRequests {plan.min_requests}: "
            "raise maxDuration, give it more traffic or higher weights, or lower minRequests"
        )
    return NEXT_TIME


def exposure_shortfall(plan: RunPlan, event: Judged) -> str | None:
    """Why promotion must wait (invariant 4), or None when exposure and evidence suffice."""
    if plan.kind is Kind.CHAOS:
        return None
    if not event.metrics:
        return "no metric evidence of non-inferiority yet"
    not_proven = [m.metric for m in event.metrics if m.outcome != "advance"]
    if not_proven:
        return f"non-inferiority not proven for {', '.join(not_proven)}"
    exposure = canary_requests(event)
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
    if canary_requests(judged) < plan.min_requests:
        return f"the canary has not served minRequests {plan.min_requests}"
    return None
