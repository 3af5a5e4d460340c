"""Experiment files: the examples validate, broken files say exactly what is wrong and where."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from rollout.cli import app
from rollout.spec import SpecError, load_experiment
from rollout.spec.loader import load_experiments_text

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "experiments").glob("*.yaml"))
BROKEN = sorted((Path(__file__).parent / "broken").glob("*.yaml"))


def expected_line(path: Path) -> str:
    first = path.read_text().splitlines()[0] if path.read_text() else ""
    if not first.startswith("# expect: "):  # the empty file carries its expectation in its name
        return "1:1 (document): the file is empty; an Experiment starts with apiVersion: meshroll.io/v1alpha1"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_experiment_validates(path: Path) -> None:
    experiment = load_experiment(path)
    assert experiment.metadata.name


def test_there_are_examples_of_every_strategy_and_provider() -> None:
    experiments = [load_experiment(p) for p in EXAMPLES]
    providers = {e.spec.mesh.provider for e in experiments}
    assert providers == {"local", "istio", "gateway-api", "smi"}
    strategies = {
        "canary"
        if e.spec.strategy and e.spec.strategy.canary
        else "ab"
        if e.spec.strategy and e.spec.strategy.ab_test
        else "mirror"
        if e.spec.strategy and e.spec.strategy.mirror
        else "chaos-only"
        for e in experiments
    }
    assert strategies == {"canary", "ab", "mirror", "chaos-only"}


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_a_broken_file_reports_its_problem_with_file_line_and_column(path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    lines = [str(p) for p in caught.value.problems]
    assert f"{path}:{expected_line(path)}" in lines


def test_validate_prints_every_problem_and_exits_1() -> None:
    result = CliRunner().invoke(app, ["validate", str(BROKEN[0]), str(EXAMPLES[0])])
    assert result.exit_code == 1
    assert f"{EXAMPLES[0]}: ok" in result.stdout
    assert f"{BROKEN[0]}:{expected_line(BROKEN[0])}" in result.output


def test_a_long_path_is_printed_on_one_line_in_a_pipe(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "checkout-canary-experiment.yaml"
    deep.parent.mkdir()
    deep.write_text(EXAMPLES[0].read_text())
    result = CliRunner().invoke(app, ["validate", str(deep)])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith(f"{deep}: ok (")  # not wrapped at 80 columns


def test_a_folder_with_one_experiment_in_two_files_fails_as_gitops_would(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(EXAMPLES[0].read_text())
    (tmp_path / "b.yaml").write_text(EXAMPLES[0].read_text())  # copied to start a second canary, not renamed
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'a.yaml'}: ok" in result.stdout
    (key,) = [e.key for e in load_experiments_text(EXAMPLES[0].read_text(), "x")]
    assert f"{tmp_path / 'b.yaml'}:1:1 metadata.name: experiment {key} is also defined in {tmp_path / 'a.yaml'}" in (
        result.output
    )


def test_a_file_given_twice_or_beside_its_folder_is_read_once_not_a_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.yaml").write_text(EXAMPLES[0].read_text())
    monkeypatch.chdir(tmp_path)
    for args in (["a.yaml", "a.yaml"], ["a.yaml", "./a.yaml", str(tmp_path / "a.yaml")], [".", "a.yaml"]):
        result = CliRunner().invoke(app, ["validate", *args])
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == 1 and ": ok (" in result.stdout, result.output
        assert "also defined" not in result.output


def test_validate_reads_standard_input_for_a_dash() -> None:
    piped = CliRunner().invoke(app, ["validate", "-"], input=EXAMPLES[0].read_text())
    assert piped.exit_code == 0 and piped.stdout.startswith("-: ok (")
    broken = CliRunner().invoke(app, ["validate", "-"], input=BROKEN[0].read_text())
    assert broken.exit_code == 1 and broken.output.startswith(f"-:{expected_line(BROKEN[0])}")


def test_validate_of_a_missing_file_is_one_line() -> None:
    result = CliRunner().invoke(app, ["validate", "no/such.yaml"])
    assert result.exit_code == 1
    assert result.output.strip() == "no/such.yaml:1:1 (file): no such file"


def test_schema_is_json_schema_of_the_experiment() -> None:
    import json

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Experiment"
    assert {"apiVersion", "kind", "metadata", "spec"} <= set(schema["properties"])


def test_durations_read_as_people_write_them() -> None:
    from rollout.spec.durations import format_duration, parse_duration

    assert parse_duration("2m") == 120
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    assert parse_duration(45) == 45
    assert [format_duration(s) for s in (120, 0.3, 90, 3600)] == ["2m", "300ms", "1m30s", "1h"]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("step", "top", "schedule"), [(30, 50, [30, 50]), (20, 50, [20, 40, 50]), (10, 30, [10, 20, 30]), (25, 25, [25])]
)
def test_step_weights_climb_to_max_weight_which_is_always_the_last(step: int, top: int, schedule: list[int]) -> None:
    from rollout.spec.traffic import CanaryStrategySpec

    strategy = CanaryStrategySpec.model_validate({"stepWeight": step, "maxWeight": top, "stepInterval": "1m"})
    assert strategy.schedule == schedule


VALID = (REPO / "experiments" / "demo-healthy.yaml").read_text()
scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=True), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _mutate(document: dict[str, object], path: list[str], value: object) -> dict[str, object]:
    node: object = document
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return document
        node = node[key]
    if isinstance(node, dict):
        node[path[-1]] = value
    return document


KEY_PATHS = [
    ["spec", "strategy"], ["spec", "strategy", "canary"], ["spec", "mesh"], ["spec", "mesh", "provider"],
    ["spec", "analysis", "metrics"], ["spec", "analysis", "alpha"], ["spec", "chaos"], ["metadata"],
    ["spec", "target"], ["kind"], ["spec", "analysis", "maxDuration"], ["spec", "notify"],
]  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(KEY_PATHS), value=values)
def test_mutated_experiments_never_raise_anything_but_spec_errors(path: list[str], value: object) -> None:
    document = _mutate(yaml.safe_load(VALID), path, value)
    text = yaml.safe_dump(document)
    try:
        load_experiments_text(text, "fuzz.yaml")
    except SpecError as exc:
        assert all(str(p).startswith("fuzz.yaml:") for p in exc.problems)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_spec_errors(text: str) -> None:
    with contextlib.suppress(SpecError):
        load_experiments_text(text, "noise.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("~", "the file is empty"),
        ("--- ~\n--- 3", "an Experiment must be a mapping"),
        ("a: !!python/object:os.system x", "could not determine a constructor"),
        ("a: " + "[" * 50 + "]" * 50, "nested more than 40 levels deep"),
        ("a: " + "[" * 5000 + "]" * 5000, "nested more than 40 levels deep"),  # deeper than Python recurses
        ("metadata:\n\tname: x", "found character '\\\\t' that cannot start any token; indent with spaces"),
    ],
)
def test_documents_that_are_not_experiments_say_so(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_experiments_text(text)


def test_a_file_that_is_not_utf8_says_which_byte_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("metadata: {name: caf\u00e9}\n".encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        load_experiment(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:1:1 (file): is not UTF-8 text (byte 0xe9 at offset 20); save it as UTF-8"
    ]
