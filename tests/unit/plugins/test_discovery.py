"""Engine plugins are found through the entry-point group meshroll.engines; the built-ins keep their names,
and every plugin that cannot be used is said in one line naming it, its entry point and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.engines import ENGINE_NAMES, PluginError, UnknownEngineError, engine_for, engine_names, plugin_problems
from analysis.sequential import SequentialJudge
from analysis.verdicts import Outcome
from tests.unit.engine.helpers import ERRORS, config, errors_pair, step

from .helpers import install, install_ratio

HEALTHY = [step(k, {"errors": errors_pair((9_000.0, 9.0), (1_000.0, 1.0))}) for k in range(3)]


def test_an_installed_plugin_is_listed_after_the_built_ins_and_judges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "ratio" not in engine_names()
    monkeypatch.syspath_prepend(str(install_ratio(tmp_path)))
    assert engine_names() == (*ENGINE_NAMES, "ratio")
    judge = engine_for("ratio")
    decision = judge.judge(HEALTHY, config(ERRORS, min_requests=1_000))
    assert judge.name == decision.engine == "ratio"
    assert decision.outcome is Outcome.ADVANCE, decision.reason


def test_an_unknown_name_lists_the_built_ins_and_the_installed_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(install_ratio(tmp_path)))
    with pytest.raises(UnknownEngineError) as caught:
        engine_for("bayes")
    message = str(caught.value)
    assert "use one of sequential, kayenta, threshold, ratio" in message
    assert "install the package of the plugin" in message and "meshroll.engines" in message


def test_a_plugin_named_like_a_built_in_is_ignored_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "shadow", {"sequential": "shadow_judge:Judge"}, {"shadow_judge": "class Judge: ..."})
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(engine_for("sequential"), SequentialJudge)
    (problem,) = plugin_problems()
    assert problem.startswith("engine plugin 'sequential' (entry point shadow_judge:Judge of shadow 0.1) is ignored")
    assert "a built-in engine has that name; rename the entry point" in problem


def test_two_plugins_with_one_name_are_refused_by_that_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "one-ratio", {"ratio": "meshroll_ratio:RatioJudge"})
    install_ratio(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "ratio" not in engine_names()
    with pytest.raises(UnknownEngineError, match=r"'ratio' are installed 2 times .*; uninstall all but one"):
        engine_for("ratio")
    (problem,) = plugin_problems()
    assert "of one-ratio 0.1" in problem and "of meshroll-ratio 0.1" in problem


def test_a_name_no_experiment_could_write_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "loud", {"Ratio@2": "meshroll_ratio:RatioJudge"})
    monkeypatch.syspath_prepend(str(tmp_path))
    (problem,) = plugin_problems()
    assert "'Ratio@2'" in problem and "lower-case letters, digits, '-' and '_'" in problem


@pytest.mark.parametrize(
    ("value", "source", "said"),
    [
        ("missing_module:Judge", None, "cannot be loaded: ModuleNotFoundError: No module named 'missing_module'"),
        ("NAME:Judge", "class Other: ...", "cannot be loaded: AttributeError"),
        ("NAME:JUDGE", "JUDGE = 3", "names an object of type int, not a class or function"),
        ("NAME:make", "def make(size):\n    return size", "raised TypeError: make() missing 1 required positional"),
        ("NAME:Judge", "class Judge:\n    name = 'x'", "returned an object of type Judge without a judge method"),
        (
            "NAME:Judge",
            "raise RuntimeError('no config\\nfile')",
            "cannot be loaded: its module raised RuntimeError: no config file; fix the plugin",
        ),
        (
            "NAME:Judge",
            "class Judge:\n    def __init__(self):\n        raise ConnectionError('stats api unreachable')",
            "raised ConnectionError: stats api unreachable when called; fix what it needs at start (its settings",
        ),
        (
            "NAME:Judge",
            "class Odd(Exception):\n    def __str__(self):\n        return self.response.reason\n"
            "class Judge:\n    def __init__(self):\n        raise Odd()",
            "raised Odd when called",
        ),
    ],
)
def test_a_plugin_that_cannot_give_a_judge_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, value: str, source: str, said: str
) -> None:
    module = f"broken_{abs(hash(request.node.name))}"  # a module name of its own: sys.modules keeps imports
    value = value.replace("NAME", module)
    install(tmp_path, "broken", {"broken": value}, {module: source} if source else None)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as caught:
        engine_for("broken")
    message = str(caught.value)
    assert message.startswith(f"engine plugin 'broken' (entry point {value} of broken 0.1) ")
    assert said in message and "\n" not in message
