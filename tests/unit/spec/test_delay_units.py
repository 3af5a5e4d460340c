"""A fault's delay says its unit: a bare number, seconds in every other duration, is 50 seconds to meshroll and
50 milliseconds to anyone coming from a latency setting, so it is refused with the two ways to write it, and
the CRD takes what ``meshroll validate`` takes (a string with its unit)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from rollout.crd import spec_schema
from rollout.spec.loader import SpecError, load_experiment_text

EXPERIMENT = (Path(__file__).resolve().parents[3] / "experiments" / "canary-with-chaos-local.yaml").read_text()


@pytest.mark.parametrize(
    ("written", "told"),
    [
        ("50", "a delay needs a unit (a bare 50 would be 50 seconds); write a unit: 50ms or 50s"),
        ('"50"', "a delay needs a unit (a bare 50 would be 50 seconds); write a unit: 50ms or 50s"),
        ("150s", "a delay of 150s is above the maximum of 60s; for 150 milliseconds write 150ms"),
        ("2m", "a delay of 2m is above the maximum of 60s"),
        ("150 ms", "'150 ms' is not a delay; write it with its unit, like 300ms or 2s"),
        ("0ms", "a delay must be at least 1ms"),
    ],
)
def test_a_delay_without_its_unit_or_out_of_range_is_refused_with_what_to_write(written: str, told: str) -> None:
    with pytest.raises(SpecError) as refused:
        load_experiment_text(EXPERIMENT.replace("fixed: 150ms", f"fixed: {written}"))
    problem = str(refused.value.problems[0])
    assert problem.endswith(f"spec.chaos.faults[0].delay.fixed: {told}"), problem


def test_a_delay_with_its_unit_loads_and_is_written_back_the_same() -> None:
    experiment = load_experiment_text(EXPERIMENT.replace("fixed: 150ms", "fixed: 50ms"))
    fault = experiment.spec.chaos.faults[0]  # type: ignore[union-attr]
    assert fault.delay is not None and fault.delay.fixed == pytest.approx(0.05)
    assert fault.model_dump(by_alias=True)["delay"]["fixed"] == "50ms"


def test_the_crd_takes_a_delay_as_a_string_with_its_unit_only() -> None:
    fixed = spec_schema()["properties"]["chaos"]["properties"]["faults"]["items"]["properties"]["delay"]
    schema = fixed["properties"]["fixed"]
    assert schema["type"] == "string" and "x-kubernetes-int-or-string" not in schema
    jsonschema.validate("300ms", schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(50, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("50", schema)
