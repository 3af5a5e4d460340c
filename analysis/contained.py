"""A plugin's judge, contained: whatever it does, a run gets a Decision it can record.

An exception (``sys.exit()`` and ``KeyboardInterrupt`` raised by its code too), a call that takes longer
than ``JUDGE_SECONDS``, or an answer a run cannot record (not a Decision; numbers that are not numbers;
verdicts on metrics the experiment does not have; an ADVANCE without a verdict on every metric) becomes
a blocked HOLD naming the plugin: the run holds its weights and spends its failure budget, as on no
data. Each call runs on a thread of its own so that a hung judge cannot hold the run past its time;
while one call is still under way, the next step is a HOLD that says so and starts no other. What the
judge prints goes to stderr (``plugin_output.py``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace

from analysis.observations import EngineConfig, StepWindow
from analysis.plugin_output import plugin_code, routed
from analysis.verdicts import Decision, Judge, MetricVerdict, Outcome

JUDGE_SECONDS = 10.0  # the built-in engines take milliseconds (meshroll bench analysis reports it)
REASON_MAX = 500  # characters of a reason a run records (its status must fit an etcd object)
_DETAIL_MAX = 200
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)
"""What a plugin's code may raise that is its failure, not ours: a sys.exit() in a plugin stops nothing."""


class ContainedJudge:
    def __init__(self, inner: Judge, name: str, *, seconds: float = JUDGE_SECONDS) -> None:
        self.inner = inner
        self.name = name
        self.seconds = seconds
        self._running: threading.Thread | None = None  # a call that outlived its time

    def judge(self, steps: Sequence[StepWindow], config: EngineConfig, *, final: bool = False) -> Decision:
        if self._running is not None and self._running.is_alive():
            return self._hold(f"is still judging an earlier step after more than {self.seconds:g}s")
        thread, answers, failures = run_contained(
            lambda: self.inner.judge(steps, config, final=final), f"meshroll-judge-{self.name}", self.seconds
        )
        if thread.is_alive():
            self._running = thread
            return self._hold(f"did not answer within {self.seconds:g}s")
        if failures:
            return self._hold(f"raised {detail(failures[0])}")
        answer = answers[0] if answers else None
        problem = decision_problem(answer, config)
        if problem is not None:
            return self._hold(problem)
        assert isinstance(answer, Decision)
        return clipped(replace(answer, engine=self.name))

    def _hold(self, what: str) -> Decision:
        reason = f"engine plugin {self.name!r} {what}, so this step has no judgement; fix or replace the plugin"
        return Decision(Outcome.HOLD, reason, self.name, blocked=True)


def run_contained(
    call: Callable[[], object], thread_name: str, seconds: float
) -> tuple[threading.Thread, list[object], list[BaseException]]:
    """Run a plugin's ``call`` on a thread of its own (what it prints goes to stderr) and wait for it at
    most ``seconds``: the thread (still alive when it did not answer in time), its answer, and what it
    raised (anything, ``SystemExit`` and ``KeyboardInterrupt`` too: a plugin's bug must not stop a run)."""
    answers: list[object] = []
    failures: list[BaseException] = []

    def run() -> None:
        with routed(), plugin_code():  # held until the call returns, however late: a hung call's prints too
            try:
                answers.append(call())
            except PLUGIN_FAILURES as exc:
                failures.append(exc)

    thread = threading.Thread(target=run, name=thread_name, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread, answers, failures


def decision_problem(answer: object, config: EngineConfig) -> str | None:
    """What makes ``answer`` unusable as a Decision on ``config``'s metrics (None when a run can record it)."""
    if not isinstance(answer, Decision):
        return f"returned an object of type {type(answer).__name__} instead of a Decision"
    if not isinstance(answer.outcome, Outcome):
        return f"returned a Decision whose outcome is {answer.outcome!r:.40}, not an Outcome"
    if not isinstance(answer.reason, str):
        return "returned a Decision whose reason is not text"
    if not isinstance(answer.blocked, bool):
        return "returned a Decision whose blocked is not True or False"
    if not isinstance(answer.adverse, bool):
        return "returned a Decision whose adverse is not True or False"
    if not isinstance(answer.metrics, tuple | list):
        return "returned a Decision whose metrics are not a tuple of MetricVerdict"
    requests = answer.canary_requests
    if requests is not None and not (_real(requests) and math.isfinite(requests) and requests >= 0):
        return "returned a Decision whose canary_requests is not a count of requests (a finite number, 0 or more)"
    names = {spec.name for spec in config.metrics}
    for verdict in answer.metrics:
        if not isinstance(verdict, MetricVerdict) or not isinstance(verdict.outcome, Outcome):
            return "returned a Decision whose metrics are not all MetricVerdicts with an Outcome"
        if not _numbers_ok(verdict):
            return f"returned a verdict on {safe_repr(verdict.metric)} whose numbers are not numbers"
        if verdict.metric not in names:
            return f"returned a verdict on {verdict.metric[:40]!r}, which is no metric of this experiment"
    judged = {verdict.metric for verdict in answer.metrics}
    if answer.outcome is Outcome.ADVANCE and (missing := sorted(names - judged)):
        return f"advanced without a verdict on {', '.join(missing)}"
    return None


def clipped(decision: Decision) -> Decision:
    """The decision with every reason at most REASON_MAX characters."""
    metrics = tuple(replace(v, reason=_clip(v.reason)) for v in decision.metrics)
    return replace(decision, reason=_clip(decision.reason), metrics=metrics)


def _clip(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 1] + "…"


def _numbers_ok(verdict: MetricVerdict) -> bool:
    optional = (verdict.estimate, verdict.e_value, verdict.p_value, verdict.threshold, verdict.stable_value)
    if not isinstance(verdict.metric, str) or not isinstance(verdict.reason, str):
        return False
    if any(v is not None and not _real(v) for v in (*optional, verdict.canary_value)):
        return False
    if not all(_real(n) and math.isfinite(n) and n >= 0 for n in (verdict.stable_n, verdict.canary_n)):
        return False
    edges, margin_at = verdict.edges, verdict.margin_at
    if not isinstance(verdict.edge, str) or not (isinstance(edges, int) and not isinstance(edges, bool) and edges >= 0):
        return False
    if not (isinstance(margin_at, tuple) and all(_real(x) and math.isfinite(as_float(x) or 0.0) for x in margin_at)):
        return False
    interval = verdict.interval
    return interval is None or (isinstance(interval, tuple) and len(interval) == 2 and all(map(_real, interval)))


def _real(value: object) -> bool:
    """A number a run can record: not a bool, not NaN (an infinite bound or e-value is a number)."""
    number = as_float(value)
    return number is not None and not math.isnan(number)


def as_float(value: object) -> float | None:
    """``value`` as a float when it is an int or a float (not a bool) that a float can hold, else None: a
    plugin's 10**400 is no number a run can compute with."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


def detail(exc: BaseException) -> str:
    """``Type: message`` on one line, short; never raises (a plugin's exception may fail to say itself)."""
    name = type(exc).__name__
    try:
        message = " ".join(str(exc).split())
    except Exception:  # a __str__ that raises is the plugin's bug, not ours
        return name
    if len(message) > _DETAIL_MAX:
        message = message[: _DETAIL_MAX - 3] + "..."
    return f"{name}: {message}" if message else name


def safe_repr(value: object, limit: int = 40) -> str:
    """``repr`` of a plugin's value, cut at ``limit`` characters; never raises."""
    try:
        return repr(value if isinstance(value, str) else str(value))[:limit]
    except Exception:
        return f"<a {type(value).__name__}>"
