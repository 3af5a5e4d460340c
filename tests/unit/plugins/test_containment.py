"""A plugin's judge cannot stop a run: an exception, or an answer that is no Decision, is a HOLD whose reason
names the plugin and the error, and the run goes on to end by its own policy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from analysis.contained import REASON_MAX, ContainedJudge
from analysis.engines import PluginError, engine_for
from analysis.observations import ArmSample, MetricPair
from analysis.verdicts import Outcome
from rollout.orchestrator import Orchestrator
from rollout.sources import MetricQuery, StepSpan
from rollout.spec import load_experiment_text
from rollout.status import Phase
from tests.unit.engine.helpers import ERRORS, config, errors_pair, step
from tests.unit.orchestrator.doubles import RecordingProvider, drive

from .helpers import experiment, install, install_ratio

STEPS = [step(0, {"errors": errors_pair((9_000.0, 9.0), (1_000.0, 1.0))})]
FAULTY = """
from analysis.verdicts import Decision, MetricVerdict, Outcome

class Raises:
    def judge(self, steps, config, *, final=False):
        raise ZeroDivisionError("float division by zero")

class Answers:
    def __init__(self, answer):
        self.answer = answer
    def judge(self, steps, config, *, final=False):
        return self.answer

def text(): return Answers("advance")
def nothing(): return Answers(None)
def bad_outcome(): return Answers(Decision("advance", "fine", "faulty"))
def bad_numbers():
    lots = MetricVerdict("errors", Outcome.ADVANCE, "ok", canary_n="lots")
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty", (lots,)))
def nan_estimate():
    nan = MetricVerdict("errors", Outcome.ADVANCE, "ok", estimate=float("nan"), canary_n=1e6, stable_n=1e6)
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty", (nan,)))
def other_metric():
    other = MetricVerdict("not-a-metric", Outcome.ADVANCE, "ok", canary_n=1e6, stable_n=1e6)
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty", (other,)))
def huge_numbers():
    huge = MetricVerdict("errors", Outcome.ADVANCE, "ok", canary_n=10**400, stable_n=1e6)
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty", (huge,)))
def nan_requests():
    ok = MetricVerdict("errors", Outcome.ADVANCE, "ok", canary_n=1e6, stable_n=1e6)
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty", (ok,), canary_requests=float("nan")))
def bad_edge():
    edge = MetricVerdict("errors", Outcome.ADVANCE, "ok", canary_n=1e6, stable_n=1e6, edges="two", margin_at=(1.1,))
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty", (edge,)))
def no_verdicts():
    return Answers(Decision(Outcome.ADVANCE, "fine", "faulty"))
def long_reason():
    return Answers(Decision(Outcome.HOLD, "x" * 5_000_000, "faulty"))

class Exits:
    def judge(self, steps, config, *, final=False):
        raise SystemExit(3)

class Interrupts:
    def judge(self, steps, config, *, final=False):
        raise KeyboardInterrupt()

class Sleeps:
    def judge(self, steps, config, *, final=False):
        import time
        time.sleep(1.0)
        return Decision(Outcome.HOLD, "late", "faulty")

def exits_when_made():
    raise SystemExit(4)
"""


@pytest.fixture
def faulty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = {
        "raises": "faulty_judges:Raises",
        "text": "faulty_judges:text",
        "nothing": "faulty_judges:nothing",
        "bad-outcome": "faulty_judges:bad_outcome",
        "bad-numbers": "faulty_judges:bad_numbers",
        "nan-estimate": "faulty_judges:nan_estimate",
        "other-metric": "faulty_judges:other_metric",
        "nan-requests": "faulty_judges:nan_requests",
        "bad-edge": "faulty_judges:bad_edge",
        "no-verdicts": "faulty_judges:no_verdicts",
        "huge-numbers": "faulty_judges:huge_numbers",
        "long-reason": "faulty_judges:long_reason",
        "exits": "faulty_judges:Exits",
        "interrupts": "faulty_judges:Interrupts",
        "sleeps": "faulty_judges:Sleeps",
        "exits-when-made": "faulty_judges:exits_when_made",
    }
    monkeypatch.syspath_prepend(str(install(tmp_path, "faulty", entries, {"faulty_judges": FAULTY})))


@pytest.mark.usefixtures("faulty")
def test_a_plugin_that_raises_holds_with_the_plugin_and_the_error_named() -> None:
    decision = engine_for("raises").judge(STEPS, config(ERRORS), final=True)
    assert decision.outcome is Outcome.HOLD and decision.engine == "raises"
    assert decision.reason == (
        "engine plugin 'raises' raised ZeroDivisionError: float division by zero, so this step has no judgement; "
        "fix or replace the plugin"
    )


@pytest.mark.usefixtures("faulty")
@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("text", "returned an object of type str instead of a Decision"),
        ("nothing", "returned an object of type NoneType instead of a Decision"),
        ("bad-outcome", "returned a Decision whose outcome is 'advance', not an Outcome"),
        ("bad-numbers", "returned a verdict on 'errors' whose numbers are not numbers"),
        ("nan-estimate", "returned a verdict on 'errors' whose numbers are not numbers"),
        ("huge-numbers", "returned a verdict on 'errors' whose numbers are not numbers"),
        ("bad-edge", "returned a verdict on 'errors' whose numbers are not numbers"),
        ("other-metric", "returned a verdict on 'not-a-metric', which is no metric of this experiment"),
        (
            "nan-requests",
            "returned a Decision whose canary_requests is not a count of requests (a finite number, 0 or more)",
        ),
        ("no-verdicts", "advanced without a verdict on errors"),
        ("exits", "raised SystemExit: 3"),
        ("interrupts", "raised KeyboardInterrupt"),
    ],
)
def test_an_answer_a_run_cannot_record_is_a_hold(name: str, said: str) -> None:
    decision = engine_for(name).judge(STEPS, config(ERRORS))
    assert decision.outcome is Outcome.HOLD and decision.metrics == () and decision.blocked
    assert decision.reason.startswith(f"engine plugin {name!r} {said}, so this step has no judgement")


@pytest.mark.usefixtures("faulty")
def test_a_judge_that_does_not_answer_in_time_holds_and_is_not_called_again_while_it_hangs() -> None:
    judge = engine_for("sleeps")
    assert isinstance(judge, ContainedJudge)
    judge.seconds = 0.2
    late = judge.judge(STEPS, config(ERRORS))
    assert late.outcome is Outcome.HOLD and late.blocked
    assert "engine plugin 'sleeps' did not answer within 0.2s" in late.reason
    busy = judge.judge(STEPS, config(ERRORS))
    assert "is still judging an earlier step after more than 0.2s" in busy.reason


@pytest.mark.usefixtures("faulty")
def test_a_reason_is_clipped_so_the_status_stays_small() -> None:
    decision = engine_for("long-reason").judge(STEPS, config(ERRORS))
    assert len(decision.reason) == REASON_MAX and decision.reason.endswith("…")


@pytest.mark.usefixtures("faulty")
def test_a_plugin_that_exits_when_made_is_one_line_naming_it() -> None:
    with pytest.raises(PluginError) as caught:
        engine_for("exits-when-made")
    assert str(caught.value).startswith("engine plugin 'exits-when-made' (entry point faulty_judges:exits_when_made")
    assert "raised SystemExit: 4 when called" in str(caught.value)


class Traffic:
    """10,000 requests a step, split by the canary's weight; ``canary_errors`` of the canary's fail (stable: 0.1%)."""

    def __init__(self, provider: RecordingProvider, canary_errors: float) -> None:
        self.provider = provider
        self.canary_errors = canary_errors

    def collect(self, span: StepSpan, metrics: Sequence[MetricQuery]) -> dict[str, MetricPair]:
        weight = self.provider.plans[-1].canary_weight if self.provider.plans else 0
        canary = 100.0 * weight
        stable = 10_000.0 - canary
        pair = MetricPair(ArmSample(stable, stable * 0.001), ArmSample(canary, canary * self.canary_errors))
        return {m.name: pair for m in metrics}


def run(engine: str, canary_errors: float = 0.001, steps: int = 15) -> tuple[Orchestrator, RecordingProvider]:
    source = lambda provider: Traffic(provider, canary_errors)  # noqa: E731
    return drive(load_experiment_text(experiment(engine)), source, engine_for(engine), steps)


@pytest.mark.usefixtures("faulty")
def test_a_run_whose_plugin_raises_holds_its_weights_and_spends_the_failure_budget() -> None:
    """A step the plugin could not judge teaches nothing about the canary: the weights stay (never "no
    regression after a full step"), and when the failure budget (5) is spent onNoData (hold) pauses the run."""
    orchestrator, provider = run("raises")
    status = orchestrator.status
    judged = [e for e in status.history if e.event.type == "judged"]
    assert len(judged) >= 6 and all("'raises' raised ZeroDivisionError" in e.reason for e in judged)
    assert [plan.canary_weight for plan in provider.plans] == [10], "the weights never moved"
    assert status.phase is Phase.PAUSED
    assert any("failure budget of 5 is spent; paused for an operator" in e.reason for e in judged)


def test_a_run_judged_by_the_example_plugin_promotes_a_healthy_canary_and_rolls_back_a_bad_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(install_ratio(tmp_path)))
    healthy, _ = run("ratio")
    assert healthy.status.phase is Phase.SUCCEEDED, healthy.status.reason
    bad, _ = run("ratio", canary_errors=0.01)
    assert bad.status.phase is Phase.ROLLED_BACK, bad.status.reason
    assert "above 2x stable's" in bad.status.reason
