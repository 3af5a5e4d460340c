"""What the ``meshroll.io/slack-thread`` annotation is read as: a thread only when it is one this controller wrote."""

from __future__ import annotations

import pytest

from rollout.kube.slack_thread import THREAD_ANNOTATION, thread_of
from rollout.notify.threads import ThreadRef


def test_the_annotation_gives_the_run_and_its_thread() -> None:
    value = '{"run":"3","channel":"C0DEPLOYS","ts":"1700000000.000100"}'
    assert thread_of({THREAD_ANNOTATION: value}) == ("3", ThreadRef("C0DEPLOYS", "1700000000.000100"))


@pytest.mark.parametrize(
    "value",
    [None, "", "not json", "[]", '{"run":"3","channel":"C0DEPLOYS"}', '{"run":3,"channel":"C","ts":"1.0"}', "null"],
)
def test_a_missing_or_hand_edited_annotation_is_no_thread(value: str | None) -> None:
    annotations = {} if value is None else {THREAD_ANNOTATION: value}
    assert thread_of(annotations) is None
