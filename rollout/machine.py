"""The experiment state machine. Pure: (plan, status, event, now) -> (new status, actions).

Every event that changes anything appends one history entry; replaying the history's events
through ``advance`` from a fresh Status reproduces the status (a property test holds it to that).
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.faults import Fault
from rollout.events import Applied, Command, Event, Halt, Judged, MetricsUnavailable, NoData, Start, Tick
from rollout.history import appended
from rollout.plan import Kind, RunPlan, past_deadline, traffic_at
from rollout.readiness import critical_shortfall, deadline_advice, exposure_shortfall, schedule_advice, unfinished
from rollout.status import HistoryEntry, Phase, Status, Traffic
from rollout.windows import split_in_force


@dataclass(frozen=True)
class SetRoute:
    """Route traffic: ``traffic``'s weights, cohort route and mirroring (faults travel in SetFaults)."""

    traffic: Traffic


@dataclass(frozen=True)
class SetFaults:
    faults: tuple[Fault, ...]


@dataclass(frozen=True)
class Notify:
    kind: str  # started, advanced, paused, resumed, promoting, succeeded, rolling-back, rolled-back, aborted, ...
    headline: str
    reason: str
    event: Event


Action = SetRoute | SetFaults | Notify


@dataclass(frozen=True)
class Transition:
    status: Status
    actions: tuple[Action, ...] = ()


SAFE = Traffic()


def advance(plan: RunPlan, status: Status, event: Event, now: float) -> Transition:
    """The machine's one entry point."""
    if status.phase.terminal:
        if isinstance(event, Applied) and not status.traffic_applied:
            return _record(plan, status, event, now, status.phase, status.traffic, status.reason, applied=True)
        return Transition(status)
    if isinstance(event, Applied):
        return _applied(plan, status, event, now)
    if isinstance(event, Command):
        return _command(plan, status, event, now)
    if status.phase is Phase.PENDING:
        if isinstance(event, Halt):
            reason = f"refused to start: the steady state is already broken before any fault ({event.reason})"
            return _go(plan, status, event, now, Phase.ABORTED, SAFE, "aborted", "Refused to start", reason=reason)
        if isinstance(event, Start):
            traffic = traffic_at(plan, 0, started_at=now, now=now)
            return _go(
                plan,
                status,
                event,
                now,
                Phase.PROGRESSING,
                traffic,
                "started",
                "Experiment started",
                step=0,
                started_at=now,
                step_started_at=now,
            )
        return Transition(status)
    if status.phase in (Phase.PROMOTING, Phase.ROLLING_BACK):
        return Transition(status)
    if isinstance(event, Halt):
        return _halt(plan, status, event, now)
    if isinstance(event, Judged):
        return _judged(plan, status, event, now)
    if isinstance(event, NoData | MetricsUnavailable):
        return _no_judgement(plan, status, event, now)
    if isinstance(event, Tick):
        return _tick(plan, status, event, now)
    return Transition(status)


# --- transitions -----------------------------------------------------------------------------


def _applied(plan: RunPlan, status: Status, event: Applied, now: float) -> Transition:
    if status.phase is Phase.ROLLING_BACK:
        return _go(
            plan,
            status,
            event,
            now,
            Phase.ROLLED_BACK,
            status.traffic,
            "rolled-back",
            "Rolled back",
            reason=status.reason,
            applied=True,
        )
    if status.phase is Phase.PROMOTING:
        return _go(
            plan,
            status,
            event,
            now,
            Phase.SUCCEEDED,
            status.traffic,
            "succeeded",
            "Promoted",
            reason=status.reason,
            applied=True,
        )
    if status.traffic_applied:
        return Transition(status)
    # the step's new split is taken now: its time (when it is due, its exposure) runs from here, not from the
    # intent, which a mesh refusing the write for a minute would have left a minute behind (windows.py)
    moved = status.phase is Phase.PROGRESSING and status.traffic.split != split_in_force(status.history)
    fields = {"step_started_at": now} if moved else {}
    return _record(plan, status, event, now, status.phase, status.traffic, status.reason, applied=True, **fields)


def _command(plan: RunPlan, status: Status, event: Command, now: float) -> Transition:
    who = f"{event.command} by {event.by}" + (f": {event.reason}" if event.reason else "")
    if event.command == "abort":
        return _go(plan, status, event, now, Phase.ABORTED, SAFE, "aborted", "Aborted", reason=f"aborted ({who})")
    if event.command == "pause" and status.phase is Phase.PROGRESSING:
        paused = status.traffic.model_copy(update={"faults": ()})
        return _go(plan, status, event, now, Phase.PAUSED, paused, "paused", "Paused", reason=f"paused ({who})")
    if event.command == "resume" and status.phase is Phase.PAUSED:
        traffic = traffic_at(plan, status.step, started_at=status.started_at or now, now=now, halted=_halted(status))
        return _go(
            plan,
            status,
            event,
            now,
            Phase.PROGRESSING,
            traffic,
            "resumed",
            "Resumed",
            reason=f"resumed ({who})",
            step_started_at=now,
            holds=0,  # an operator's resume gives the run its failure budget anew
        )
    if event.command == "promote" and status.phase in (Phase.PROGRESSING, Phase.PAUSED):
        return _finish(plan, status, event, now, f"promoted by an operator override ({who})")
    return Transition(status)


def _halt(plan: RunPlan, status: Status, event: Halt, now: float) -> Transition:
    if event.operator and plan.kind is Kind.CHAOS:  # a drill without its faults has nothing left to show
        reason = f"the drill was ended by an operator before its duration, so it proves nothing: {event.reason}"
        return _go(plan, status, event, now, Phase.ABORTED, SAFE, "aborted", "Faults stopped", reason=reason)
    if event.operator:
        calm = status.traffic.model_copy(update={"faults": ()})
        return _go(plan, status, event, now, status.phase, calm, "halted", "Faults stopped", reason=event.reason)
    reason = f"steady state broken, faults halted: {event.reason}"
    if plan.kind in (Kind.CANARY, Kind.AB_TEST):
        return _go(plan, status, event, now, Phase.ROLLING_BACK, SAFE, "rolling-back", "Rolling back", reason=reason)
    return _go(plan, status, event, now, Phase.ABORTED, SAFE, "aborted", "Halted", reason=reason)


def _judged(plan: RunPlan, status: Status, event: Judged, now: float) -> Transition:
    if event.outcome == "rollback":
        return _go(
            plan,
            status,
            event,
            now,
            Phase.ROLLING_BACK,
            SAFE,
            "rolling-back",
            "Rolling back",
            reason=event.reason,
            holds=0,
            verdict=event.outcome,
        )
    if status.phase is Phase.PAUSED:
        return _record(
            plan, status, event, now, status.phase, status.traffic, event.reason, holds=0, verdict=event.outcome
        )
    started_at = status.started_at or now
    at_deadline = past_deadline(plan, status, now) and plan.kind is not Kind.CHAOS  # a drill ends by its steps
    if event.outcome == "inconclusive" or (event.outcome == "hold" and at_deadline):
        return _inconclusive(plan, status, event, now)
    if event.outcome == "hold" and event.blocked:  # nothing was learnt about the canary: never "no regression"
        return _no_judgement(plan, status, event, now)
    step_time = now - (status.step_started_at or now)
    step_done = step_time >= plan.min_step_time
    if plan.kind is Kind.CHAOS and step_done:
        return _finish(
            plan, status, event, now, f"chaos run completed without breaking the steady state; {event.reason}"
        )
    more_steps = status.step + 1 < len(plan.weights)
    unproven = event.outcome == "hold" and not event.adverse  # a failed check or a low score is evidence
    gate_open = event.outcome == "advance" or (unproven and plan.step_gate == "no-regression")
    if at_deadline and (more_steps or not step_done):  # judged no worse, but the schedule is not through
        why = unfinished(plan, status, step_time, event.reason)
        return _inconclusive(plan, status, event, now, why, schedule_advice(plan))
    if more_steps and gate_open and step_done:
        reason = event.reason if event.outcome == "advance" else f"no regression after a full step; {event.reason}"
        step = status.step + 1
        traffic = traffic_at(plan, step, started_at=started_at, now=now, halted=_halted(status))
        return _go(
            plan, status, event, now, Phase.PROGRESSING, traffic, "advanced",
            f"Canary weight {status.traffic.canary_weight}% -> {traffic.canary_weight}%",
            reason=reason, step=step, step_started_at=now, holds=0, verdict=event.outcome,
        )  # fmt: skip
    if event.outcome == "advance" and step_done:
        shortfall = exposure_shortfall(plan, event)
        if shortfall is None:
            return _finish(plan, status, event, now, event.reason, verdict=event.outcome)
        if at_deadline:
            return _inconclusive(plan, status, event, now, f"not promoted: {shortfall}; {event.reason}")
        reason = f"holding: {shortfall}"
    elif event.outcome == "advance":
        reason = f"holding: the step needs {plan.min_step_time - step_time:.0f}s more exposure; {event.reason}"
    else:
        reason = event.reason
    traffic = traffic_at(plan, status.step, started_at=started_at, now=now, halted=_halted(status))
    return _record(plan, status, event, now, Phase.PROGRESSING, traffic, reason, holds=0, verdict=event.outcome)


def _no_judgement(plan: RunPlan, status: Status, event: NoData | MetricsUnavailable | Judged, now: float) -> Transition:
    """A step that taught nothing about the canary: the weights stay, and the failure budget is spent."""
    holds = status.holds + 1
    if isinstance(event, MetricsUnavailable):
        cause = f"metrics unavailable ({event.reason}); this says nothing about the canary"
    elif isinstance(event, Judged):
        cause = f"the step could not be judged ({event.reason.removeprefix('hold: ')})"
    else:
        cause = f"no data ({event.reason})"
    started_at = status.started_at or now
    if holds <= plan.failure_budget and not past_deadline(plan, status, now):
        traffic = (
            traffic_at(plan, status.step, started_at=started_at, now=now, halted=_halted(status))
            if (status.phase is Phase.PROGRESSING)
            else status.traffic
        )
        reason = f"holding weights: {cause}; failure budget {holds}/{plan.failure_budget} spent"
        return _record(plan, status, event, now, status.phase, traffic, reason, holds=holds)
    if holds > plan.failure_budget:
        reason = f"{cause} for {holds} steps: the failure budget of {plan.failure_budget} is spent"
        budget = f"resume, which gives the run its failure budget of {plan.failure_budget} anew"
        return _policy(plan, status, event, now, plan.on_no_data, reason, holds=holds, or_else=budget)
    reason = f"{cause}; maxDuration ({plan.max_duration:.0f}s) is reached with this step unjudged"  # the deadline
    return _policy(plan, status, event, now, plan.on_no_data, reason, holds=holds)


def _inconclusive(
    plan: RunPlan, status: Status, event: Judged, now: float, why: str | None = None, advice: str | None = None
) -> Transition:
    """The deadline came first: ``why`` (the schedule is not through, or the canary not promotable yet), or the
    engine's open question; ``advice``: what to change so that the next run decides, else ``deadline_advice``."""
    reason = f"no decision by maxDuration ({plan.max_duration:.0f}s): {why or event.reason}"
    promoted = plan.on_inconclusive == "promote-if-not-critical" and critical_shortfall(plan, status, event) is None
    if plan.kind is not Kind.CHAOS and not promoted:  # what to change so that the next run decides
        reason = f"{reason} ({advice or deadline_advice(plan, event)})"
    return _policy(plan, status, event, now, plan.on_inconclusive, reason, verdict="inconclusive")


def _policy(
    plan: RunPlan,
    status: Status,
    event: Event,
    now: float,
    policy: str,
    reason: str,
    or_else: str = "",
    **fields: object,
) -> Transition:
    """Carry out ``policy``; ``or_else``: what else than promote or abort an operator may do with a paused run."""
    if policy == "hold":
        then = f"promote, abort or {or_else}" if or_else else "promote or abort"
        paused = status.traffic.model_copy(update={"faults": ()})
        return _go(
            plan, status, event, now, Phase.PAUSED, paused, "paused", "Paused for an operator",
            reason=f"{reason}; paused for an operator to {then}", **fields,
        )  # fmt: skip
    if policy == "promote-if-not-critical":
        shortfall = critical_shortfall(plan, status, event)
        if shortfall is None:
            return _finish(plan, status, event, now, f"{reason}; every critical metric is non-inferior", **fields)
        reason = f"{reason}; not promoted because {shortfall}"
    if isinstance(event, Judged):
        return _go(
            plan, status, event, now, Phase.INCONCLUSIVE, SAFE, "inconclusive", "Inconclusive",
            reason=f"{reason}; back to stable", **fields,
        )  # fmt: skip
    return _go(
        plan, status, event, now, Phase.ROLLING_BACK, SAFE, "rolling-back", "Rolling back", reason=reason, **fields
    )


def _tick(plan: RunPlan, status: Status, event: Tick, now: float) -> Transition:
    if status.phase is not Phase.PROGRESSING:
        return Transition(status)
    traffic = traffic_at(plan, status.step, started_at=status.started_at or now, now=now, halted=_halted(status))
    if traffic == status.traffic:
        return Transition(status)
    return _record(plan, status, event, now, status.phase, traffic, "fault schedule changed")


def _finish(plan: RunPlan, status: Status, event: Event, now: float, reason: str, **fields: object) -> Transition:
    if plan.promotes:
        promoted = Traffic(canary_weight=100)
        return _go(
            plan, status, event, now, Phase.PROMOTING, promoted, "promoting", "Promoting", reason=reason, **fields
        )
    return _go(plan, status, event, now, Phase.SUCCEEDED, SAFE, "succeeded", "Completed", reason=reason, **fields)


# --- helpers ---------------------------------------------------------------------------------


def _halted(status: Status) -> bool:
    return any(isinstance(entry.event, Halt) for entry in status.history)


def _record(
    plan: RunPlan,
    status: Status,
    event: Event,
    now: float,
    phase: Phase,
    traffic: Traffic,
    reason: str,
    *,
    applied: bool | None = None,
    **fields: object,
) -> Transition:
    """Append a history entry and return the new status (no notification)."""
    changed = traffic != status.traffic
    entry = HistoryEntry(
        time=now,
        event=event,
        from_phase=status.phase,
        to_phase=phase,
        step=int(fields.get("step", status.step)),  # type: ignore[call-overload]
        traffic=traffic,
        reason=reason,
    )
    update: dict[str, object] = {
        "phase": phase,
        "traffic": traffic,
        "reason": reason,
        "updated_at": now,
        "traffic_applied": applied if applied is not None else (status.traffic_applied and not changed),
        "history": appended(status.history, entry),
        **fields,
    }
    new = status.model_copy(update=update)
    actions: list[Action] = []
    if changed:
        actions.append(SetRoute(traffic))
        if traffic.faults != status.traffic.faults:
            actions.append(SetFaults(tuple(p.fault for p in plan.faults if p.fault.id in traffic.faults)))
    return Transition(new, tuple(actions))


def _go(
    plan: RunPlan,
    status: Status,
    event: Event,
    now: float,
    phase: Phase,
    traffic: Traffic,
    kind: str,
    headline: str,
    *,
    reason: str = "",
    **fields: object,
) -> Transition:
    """A phase change or step change: record it, route, and notify."""
    transition = _record(plan, status, event, now, phase, traffic, reason or headline, **fields)  # type: ignore[arg-type]
    return Transition(transition.status, (*transition.actions, Notify(kind, headline, reason or headline, event)))
