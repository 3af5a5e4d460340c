"""The scenario JSON format: it round-trips, and a malformed file fails with one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from analysis.bench.generator import GeneratorSettings, generate
from analysis.bench.scenario_io import (
    ScenarioFormatError,
    read_scenario_file,
    read_scenarios,
    scenario_to_json,
    write_scenario,
    write_scenarios_jsonl,
)

SMALL = GeneratorSettings(max_steps=4, steps_per_weight=1, rps_range=(20.0, 20.0))


def _doc() -> dict[str, Any]:
    return scenario_to_json(generate("latency+10%-mid", 1, GeneratorSettings(max_steps=12, rps_range=(20.0, 20.0))))


def test_a_json_file_round_trips(tmp_path: Path) -> None:
    scenario = generate("tail-1%", 2, SMALL)
    write_scenario(tmp_path / "one.json", scenario)
    assert read_scenario_file(tmp_path / "one.json") == [scenario]


def test_a_jsonl_file_round_trips_and_a_directory_reads_every_file(tmp_path: Path) -> None:
    scenarios = [generate("aa-ar1", i, SMALL) for i in range(3)]
    write_scenarios_jsonl(tmp_path / "b.jsonl", scenarios[1:])
    write_scenario(tmp_path / "a.json", scenarios[0])
    (tmp_path / "notes.txt").write_text("ignored")
    assert read_scenarios(tmp_path) == scenarios


def _error_for(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ScenarioFormatError) as info:
        read_scenario_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_a_missing_field_is_named(tmp_path: Path) -> None:
    doc = _doc()
    del doc["steps"][2]["canary_weight"]
    assert _error_for(tmp_path, doc).endswith("steps[2].canary_weight: missing")


def test_a_wrong_type_is_named_with_the_value(tmp_path: Path) -> None:
    doc = _doc()
    doc["steps"][1]["metrics"]["errors"]["canary"]["requests"] = "many"
    message = _error_for(tmp_path, doc)
    assert 'steps[1].metrics.errors.canary.requests: expected a finite number, got "many"' in message


def test_non_monotone_buckets_are_refused(tmp_path: Path) -> None:
    doc = _doc()
    doc["steps"][0]["metrics"]["latency"]["stable"]["buckets"][6][1] = 10**9
    message = _error_for(tmp_path, doc)
    assert "steps[0].metrics.latency.stable: buckets are not monotone" in message


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda d: d["effect"].update(kind="slower"),
            "effect.kind: expected one of none, errors, latency, tail",
        ),
        (lambda d: d["effect"].update(metric="cpu"), "effect.metric: metric 'cpu' is not declared"),
        (lambda d: d.update(final_step=99), "final_step: must be below the number of steps"),
        (lambda d: d["steps"][0].update(end=d["steps"][0]["start"]), "steps[0].end: must be after start"),
        (lambda d: d["steps"][3]["metrics"].update(cpu={}), "steps[3].metrics.cpu: metric not declared"),
        (lambda d: d.update(format="v0"), "format: expected 'meshroll-bench-scenario/1'"),
        (lambda d: d.update(seed=3), "seed: unknown field; allowed: class, effect, final_step, format,"),
        (lambda d: d["effect"].update(onset=3), "effect.onset: unknown field; allowed: edge, kind,"),
        (lambda d: d["steps"][1].update(weight=5), "steps[1].weight: unknown field; allowed: canary_weight,"),
        (lambda d: d["metrics"].append(dict(d["metrics"][0])), "metrics[2].name: metric 'errors' is declared twice"),
        (
            lambda d: d["steps"][0]["metrics"]["errors"]["stable"].update(requests=10**400),
            "steps[0].metrics.errors.stable.requests: expected a finite number, got an integer of 401 digits",
        ),
        (
            lambda d: d["steps"][0]["metrics"]["latency"]["canary"]["buckets"].pop(),
            'steps[0].metrics.latency.canary.buckets: close the list with ["+Inf", count]',
        ),
        (lambda d: d["effect"].update(edge=300), "effect.edge: 300 is not a bucket edge of 'latency' (edges: 0.5, 1,"),
        (
            lambda d: d["effect"].update(edge=None),
            "effect.edge: a latency effect needs the bucket edge whose exceedances are the bad events",
        ),
        (
            lambda d: d["effect"].update(metric="errors"),
            "effect.metric: a latency effect needs a latency metric; 'errors' is declared with kind errors",
        ),
        (
            lambda d: d["steps"][2]["metrics"]["latency"]["canary"]["buckets"][-1].__setitem__(1, 99999),
            'steps[2].metrics.latency.canary.buckets: the "+Inf" count (99999) differs from requests (',
        ),
        (
            lambda d: d["steps"][1]["metrics"]["latency"]["stable"].update(buckets=[]),
            'steps[1].metrics.latency.stable.buckets: empty: omit it, or close the list with ["+Inf", count]',
        ),
    ],
)
def test_other_mistakes_are_named(tmp_path: Path, edit: Any, expected: str) -> None:
    doc = _doc()
    edit(doc)
    assert expected in _error_for(tmp_path, doc)


def test_invalid_json_and_jsonl_lines_are_located(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"name": ')
    with pytest.raises(ScenarioFormatError, match=r"broken\.json: not valid JSON \(.* line 1 column 10\)"):
        read_scenario_file(path)
    lines = tmp_path / "many.jsonl"
    good = json.dumps(_doc())
    lines.write_text(good + "\n\n" + good.replace('"class"', '"klass"') + "\n")
    with pytest.raises(ScenarioFormatError, match=r"many\.jsonl:3: klass: unknown field; allowed: class, "):
        read_scenario_file(lines)


def test_json_nested_too_deeply_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ScenarioFormatError, match=r"deep\.json: its JSON is nested too deeply for a scenario$"):
        read_scenario_file(path)


def test_a_directory_without_scenarios_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFormatError, match=r"no \*\.json or \*\.jsonl scenario files"):
        read_scenarios(tmp_path)


def test_the_documented_example_is_a_valid_scenario(tmp_path: Path) -> None:
    doc = Path(__file__).parents[3] / "docs" / "bench-scenarios.md"
    text = doc.read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.json").write_text(example)
    (scenario,) = read_scenario_file(tmp_path / "example.json")
    assert scenario.scenario_class == "errors-x2" and len(scenario.steps) == 2
    assert scenario.steps[1].metrics["errors"].canary.errors == 5


def test_two_files_with_one_scenario_name_are_refused_naming_both(tmp_path: Path) -> None:
    scenario = generate("aa-ar1", 0, SMALL)
    write_scenario(tmp_path / "a.json", scenario)
    write_scenario(tmp_path / "b.json", scenario)
    with pytest.raises(ScenarioFormatError) as info:
        read_scenarios(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'b.json'}: name: {scenario.name!r} is also the name of the scenario in "
        f"{tmp_path / 'a.json'}; names must be unique"
    )


def test_a_name_repeated_within_a_jsonl_file_is_refused_with_its_line(tmp_path: Path) -> None:
    scenario = generate("aa-ar1", 0, SMALL)
    write_scenarios_jsonl(tmp_path / "many.jsonl", [scenario, scenario])
    with pytest.raises(ScenarioFormatError, match=r"many\.jsonl:2: name: .* also the name of the scenario in .*:1;"):
        read_scenario_file(tmp_path / "many.jsonl")
