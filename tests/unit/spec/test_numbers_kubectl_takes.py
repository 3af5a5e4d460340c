"""Numbers as the API server takes them, so ``meshroll validate`` passes no file ``kubectl apply`` refuses:
``true`` where a number belongs (pydantic alone would read it as 1) and durations in fractional seconds
(the CRD takes whole seconds or a duration string) are refused in one line that says where."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.spec.loader import SpecError, load_experiment_text

EXAMPLE = (Path(__file__).resolve().parents[3] / "experiments" / "canary-sticky-local.yaml").read_text()


@pytest.mark.parametrize(
    ("written", "as_bool", "where"),
    [
        ("loadUsers: 2000", "loadUsers: true", "spec.mesh: loadUsers: true is not a number"),
        ("loadRate: 250", "loadRate: true", "spec.mesh: loadRate: true is not a number"),
        ("minRequests: 500", "minRequests: false", "spec.analysis: minRequests: false is not a number"),
    ],
)
def test_a_boolean_where_a_number_belongs_is_refused(written: str, as_bool: str, where: str) -> None:
    with pytest.raises(SpecError) as refused:
        load_experiment_text(EXAMPLE.replace(written, as_bool))
    assert where in str(refused.value.problems[0])


def test_numbers_and_booleans_where_they_belong_still_load() -> None:
    experiment = load_experiment_text(EXAMPLE.replace("loadUsers: 2000", "loadUsers: 0"))
    assert experiment.spec.mesh.load_users == 0  # type: ignore[union-attr]


def test_a_duration_in_fractional_seconds_is_refused_with_the_string_to_write() -> None:
    """The CRD takes whole seconds or a duration string; 1.5 would pass validate and fail kubectl apply."""
    with pytest.raises(SpecError) as refused:
        load_experiment_text(EXAMPLE.replace("stepInterval: 8s", "stepInterval: 1.5"))
    assert "1.5 seconds is not a whole number; write a duration like 1500ms" in str(refused.value.problems[0])
    assert load_experiment_text(EXAMPLE.replace("stepInterval: 8s", "stepInterval: 8")).spec.strategy is not None
