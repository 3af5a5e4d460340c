"""The engine registry."""

from __future__ import annotations

import pytest

from analysis.engines import ENGINE_NAMES, UnknownEngineError, engine_for
from analysis.sequential import SequentialJudge
from analysis.threshold import ThresholdJudge
from analysis.verdicts import Outcome

from .helpers import ERRORS, config, errors_pair, step


def test_each_name_gives_its_engine() -> None:
    assert isinstance(engine_for("sequential"), SequentialJudge)
    assert isinstance(engine_for(" Threshold "), ThresholdJudge)
    assert engine_for("sequential").name == "sequential" and engine_for("threshold").name == "threshold"


def test_every_registered_engine_answers_the_judge_protocol() -> None:
    steps = [step(0, {"errors": errors_pair((900.0, 9.0), (100.0, 1.0))})]
    for name in ENGINE_NAMES:
        judge = engine_for(name)
        decision = judge.judge(steps, config(ERRORS))
        assert decision.engine == judge.name == name
        assert decision.outcome in tuple(Outcome)


def test_an_unknown_name_says_which_names_exist() -> None:
    with pytest.raises(UnknownEngineError, match="use one of sequential, kayenta, threshold"):
        engine_for("bayes")
