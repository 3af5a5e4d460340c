"""analysis.engine takes a built-in's name or an installed plugin's: the schema checks the shape of the name,
validation checks that this installation has it (so the controller refuses one its image lacks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.engines import engine_or_unavailable
from analysis.observations import EngineConfig
from analysis.verdicts import Outcome
from rollout.crd import experiment_crd
from rollout.kube.objects import InvalidExperiment, experiment_from
from rollout.spec import load_experiment_text
from rollout.spec.loader import SpecError
from rollout.spec.models import Experiment

from .helpers import experiment, install, install_ratio


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_experiment_text(text, "shop.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_plugin_not_installed_is_refused_where_it_is_named_with_the_names_there_are() -> None:
    (problem,) = problems(experiment("ratio"))
    assert problem == (
        "shop.yaml:9:5 spec.analysis.engine: unknown analysis engine 'ratio': use one of sequential, kayenta, "
        "threshold, or install the package of the plugin that provides it (entry-point group meshroll.engines)"
    )


def test_an_installed_plugin_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install_ratio(tmp_path)))
    assert load_experiment_text(experiment("ratio")).spec.analysis is not None


def test_a_plugin_that_cannot_load_is_refused_at_validation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(install(tmp_path, "gone", {"gone": "gone_module:Judge"})))
    (problem,) = problems(experiment("gone"))
    assert problem.startswith("shop.yaml:9:5 spec.analysis.engine: engine plugin 'gone' (entry point gone_module")
    assert "ModuleNotFoundError" in problem


def test_the_controller_refuses_a_new_run_naming_a_plugin_its_image_lacks_and_keeps_one_under_way() -> None:
    """A new run must be able to judge; a run already under way (its image upgraded without the plugin) is
    still resumed, aborted, reverted or deleted, and its judge holds every step, blocked, saying why."""
    obj = load_experiment_text(experiment("sequential")).model_dump(by_alias=True, mode="json")
    obj["spec"]["analysis"]["engine"] = "ratio"
    with pytest.raises(InvalidExperiment) as caught:
        experiment_from(obj, new_run=True)  # the reconcile's check before a start
    assert caught.value.message.startswith("spec.analysis.engine: unknown analysis engine 'ratio': use one of")

    under_way = experiment_from(obj)  # what building, resuming or reverting a run reads
    assert under_way.spec.analysis is not None and under_way.spec.analysis.engine == "ratio"
    judge = engine_or_unavailable("ratio")
    decision = judge.judge([], EngineConfig(metrics=()))
    assert decision.outcome is Outcome.HOLD and decision.blocked
    assert decision.reason.startswith("the engine 'ratio' is not available in this controller (unknown analysis")
    assert judge.judge([], EngineConfig(metrics=()), final=True).outcome is Outcome.INCONCLUSIVE


@pytest.mark.parametrize("name", ["Sequential", "ratio@2", "-ratio", "x" * 64])
def test_a_name_no_engine_can_have_says_what_a_name_is(name: str) -> None:
    (problem,) = problems(experiment(f'"{name}"'))
    assert "spec.analysis.engine: " in problem and "is not an engine name; use one of sequential" in problem
    assert "or an installed plugin's name" in problem


def test_the_schema_and_the_crd_take_any_engine_name_by_its_pattern() -> None:
    schema = Experiment.model_json_schema(by_alias=True)["$defs"]["AnalysisSpec"]["properties"]["engine"]
    crd = experiment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    engine = crd["properties"]["spec"]["properties"]["analysis"]["properties"]["engine"]
    for shape in (schema, engine):
        assert "enum" not in shape and shape["type"] == "string" and shape["maxLength"] == 63
        assert shape["pattern"] == "^[a-z0-9]([-a-z0-9_]*[a-z0-9])?$"
