"""Slack's buttons end to end: the controller (in-process) against the real kube-apiserver and etcd.

The Slack side is a stand-in: Slack cannot be reached from the tests. ``tests/slackstub`` receives
the controller's messages (Web API shape) and the ephemeral replies (the clicks' ``response_url``),
and the tests play Slack's part of a click: they take the buttons from the message the controller
posted, sign the ``block_actions`` request with a test signing secret by Slack's documented recipe
(``tests/slackstub/clicks.py``) and POST it to the controller's real HTTP server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rollout.kube.command_by import COMMAND_BY_ANNOTATION
from rollout.kube.objects import Experiments, Key
from rollout.kube.reconcile import COMMAND_ANNOTATION
from rollout.kube.server import HealthServer
from rollout.kube.slack_actions import PATH, ActionSettings, SlackActions
from rollout.kube.slack_thread import THREAD_ANNOTATION
from rollout.notify import SLACK_API_URL_ENV
from rollout.notify.secrets import Secret
from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.fixtures import ControllerFactory
from tests.integration.kube.helpers import Api, SyntheticSource, experiment, route_weights, wait_for
from tests.integration.kube.process import ControllerProcess
from tests.slackstub import Message, SlackStub
from tests.slackstub.clicks import SIGNING_SECRET, click_body, post, signed

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(180)]

ALICE, MALLORY = "U0ALICE01", "U0MALLORY"
Obj = dict[str, Any]


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackStub]:
    with SlackStub() as stub:
        monkeypatch.setenv("SLACK_BOT_TOKEN", stub.token)
        monkeypatch.setenv(SLACK_API_URL_ENV, stub.base_url)
        yield stub


@pytest.fixture
def endpoint(controlplane: ControlPlane) -> Iterator[str]:
    """The controller's HTTP server with the Slack actions route, as ``meshroll controller`` builds it."""
    settings = ActionSettings(Secret(SIGNING_SECRET), frozenset({ALICE}), response_hosts=("127.0.0.1",))
    actions = SlackActions(Experiments(controlplane.api_client()), settings)
    server = HealthServer(("127.0.0.1", 0), CollectorRegistry(), healthy=list, ready=list, posts={PATH: actions.handle})
    server.start()
    yield f"http://127.0.0.1:{server.port}{PATH}"
    server.stop()


def with_slack(body: Obj) -> Obj:
    body["spec"]["notify"] = {"slack": {"channel": "#deploys"}}
    return body


def phase(kube: Api, namespace: str, name: str, *phases: str) -> Obj | None:
    status = kube.status(namespace, name)
    return status if status.get("phase") in phases and status.get("trafficApplied") else None


def buttons(slack: SlackStub, run: int = 0) -> dict[str, str]:
    """action_id -> value of the buttons on the thread's first message of the ``run``-th run (0: the first)."""
    roots = [m for m in slack.messages() if m.thread_ts is None]
    if len(roots) <= run:
        return {}
    actions = [b for b in roots[run].blocks if b.get("type") == "actions"]
    return {e["action_id"]: e["value"] for e in actions[0]["elements"]} if actions else {}


def click(url: str, slack: SlackStub, value: str, action_id: str, user: str = ALICE, **sign: Any) -> tuple[int, str]:
    body = click_body(value, action_id=action_id, user_id=user, response_url=slack.hook_url("response"))
    return post(url, body, signed(body, **sign))


def reply(slack: SlackStub, count: int) -> Obj:
    """The ``count``-th ephemeral reply the controller sent through a response_url."""
    return slack.wait_for("hooks/response", count)[count - 1].body


def annotations_of(kube: Api, namespace: str, name: str) -> dict[str, str]:
    return dict(kube.experiment(namespace, name)["metadata"].get("annotations") or {})


def test_a_click_aborts_the_run_and_bad_or_unallowed_clicks_change_nothing(
    kube: Api, namespace: str, start_controller: ControllerFactory, slack: SlackStub, endpoint: str
) -> None:
    kube.create_istio(namespace)
    start_controller(
        lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace, slack_actions=True
    )
    kube.create_experiment(with_slack(experiment(namespace, "c", interval="60s")))
    wait_for(lambda: phase(kube, namespace, "c", "Progressing"), "the first step", timeout=30)
    shown = wait_for(lambda: buttons(slack) or None, "the run's message with its buttons", timeout=20)
    assert set(shown) == {"meshroll-promote", "meshroll-pause", "meshroll-abort"}
    abort = shown["meshroll-abort"]

    assert click(endpoint, slack, abort, "meshroll-abort", secret="not-the-app-s-secret")[0] == 401
    assert click(endpoint, slack, abort, "meshroll-abort", timestamp=1_700_000_000)[0] == 401  # a replay
    assert click(endpoint, slack, abort, "meshroll-abort", user=MALLORY)[0] == 200
    refused = reply(slack, 1)
    assert refused["response_type"] == "ephemeral" and refused["replace_original"] is False
    assert f"You ({MALLORY}) may not abort {namespace}/c" in refused["text"]
    forged_run = json.dumps({**json.loads(abort), "r": "12.000"}, separators=(",", ":"))
    assert click(endpoint, slack, forged_run, "meshroll-abort")[0] == 200
    assert "older run" in reply(slack, 2)["text"]
    assert COMMAND_ANNOTATION not in annotations_of(kube, namespace, "c")
    assert kube.status(namespace, "c")["phase"] == "Progressing"

    assert click(endpoint, slack, abort, "meshroll-abort")[0] == 200
    assert "requested by <@U0ALICE01>" in reply(slack, 3)["text"]
    given = annotations_of(kube, namespace, "c")
    assert given[COMMAND_ANNOTATION].startswith(f"abort:slack-{ALICE}-")
    assert given[COMMAND_BY_ANNOTATION] == f"slack:{ALICE} (alice)"
    status = wait_for(lambda: phase(kube, namespace, "c", "Aborted"), "the abort", timeout=30)
    assert route_weights(kube.virtual_service(namespace)) == (100, 0)
    assert f"abort by slack:{ALICE} (alice)" in status["reason"]
    notes = [e.get("note", "") for e in kube.events(namespace, "c") if e["reason"] == "Aborted"]
    assert any(f"slack:{ALICE} (alice)" in n for n in notes), notes
    wait_for(lambda: set(buttons(slack)) == {"meshroll-retry"}, "Retry alone on the updated message", timeout=20)
    said = wait_for(
        lambda: [m for m in slack.messages() if m.thread_ts and f"slack:{ALICE} (alice)" in json.dumps(m.blocks)],
        "the thread's reply naming the user",
        timeout=20,
    )
    assert said

    assert click(endpoint, slack, shown["meshroll-pause"], "meshroll-pause")[0] == 200
    assert "is Aborted: nothing to pause" in reply(slack, 4)["text"]

    assert click(endpoint, slack, buttons(slack)["meshroll-retry"], "meshroll-retry")[0] == 200
    assert "Retry of" in reply(slack, 5)["text"]
    again = wait_for(
        lambda: kube.status(namespace, "c").get("run") == 2 or None, "run 2, retried from Slack", timeout=30
    )
    assert again and kube.status(namespace, "c")["previousRuns"][0]["phase"] == "Aborted"
    wait_for(lambda: buttons(slack, run=1) or None, "run 2's thread, with its own buttons", timeout=20)


def test_a_click_on_an_older_run_s_message_does_nothing_and_the_current_one_promotes(
    kube: Api, namespace: str, start_controller: ControllerFactory, slack: SlackStub, endpoint: str
) -> None:
    kube.create_istio(namespace)
    start_controller(
        lambda: SyntheticSource(kube), namespaces=(namespace,), lease_namespace=namespace, slack_actions=True
    )
    kube.create_experiment(with_slack(experiment(namespace, "p", interval="60s")))
    wait_for(lambda: phase(kube, namespace, "p", "Progressing"), "run 1", timeout=30)
    first = wait_for(lambda: buttons(slack, 0) or None, "run 1's buttons", timeout=20)
    kube.patch_experiment(namespace, "p", {"spec": {"target": {"canary": {"version": "v3"}}}})
    wait_for(lambda: (s := phase(kube, namespace, "p", "Progressing")) and s.get("run") == 2 and s, "run 2", timeout=30)
    second = wait_for(lambda: buttons(slack, 1) or None, "run 2's buttons", timeout=20)

    assert click(endpoint, slack, first["meshroll-promote"], "meshroll-promote")[0] == 200
    assert "older run of" in reply(slack, 1)["text"] and "run 2 is the current one" in reply(slack, 1)["text"]
    assert COMMAND_ANNOTATION not in annotations_of(kube, namespace, "p")

    assert click(endpoint, slack, second["meshroll-promote"], "meshroll-promote")[0] == 200
    assert "Promote of" in reply(slack, 2)["text"]
    status = wait_for(lambda: phase(kube, namespace, "p", "Succeeded"), "the promotion", timeout=30)
    assert f"promote by slack:{ALICE} (alice)" in status["reason"]
    assert route_weights(kube.virtual_service(namespace), canary="v3") == (0, 100)


def test_meshroll_controller_serves_the_route_only_with_a_signing_secret(
    controlplane: ControlPlane, kube: Api, namespace: str, tmp_path: Path
) -> None:
    secret = tmp_path / "signing-secret"
    secret.write_text(SIGNING_SECRET + "\n")
    common = ["--no-leader-election", f"--namespace={namespace}", f"--state-dir={tmp_path}"]
    flags = [f"--slack-signing-secret-file={secret}", f"--slack-allowed-users={ALICE}"]
    with_slack_flags = ControllerProcess(controlplane.kubeconfig, tmp_path / "a.log", [*common, *flags], identity="a")
    plain = ControllerProcess(controlplane.kubeconfig, tmp_path / "b.log", common, identity="b")
    try:
        for process in (with_slack_flags.start(), plain.start()):
            process.wait_ready()
        url = f"http://127.0.0.1:{with_slack_flags.port}{PATH}"
        not_a_click = b"payload=%7B%22type%22%3A%22shortcut%22%7D"
        assert post(url, not_a_click, signed(not_a_click, secret="wrong"))[0] == 401
        assert post(url, not_a_click, signed(not_a_click))[0] == 400  # verified, but nothing of meshroll's
        assert post(f"http://127.0.0.1:{plain.port}{PATH}", not_a_click, signed(not_a_click))[0] == 404
    finally:
        with_slack_flags.stop()
        plain.stop()


def test_a_replica_taking_over_a_run_keeps_replying_in_its_slack_thread(
    kube: Api, namespace: str, start_controller: ControllerFactory, slack: SlackStub, tmp_path: Path
) -> None:
    """Each replica has its own --state-dir (an emptyDir in the chart): the thread is kept on the Experiment."""
    kube.create_istio(namespace)
    options: dict[str, Any] = {"namespaces": (namespace,), "lease_namespace": namespace, "slack_actions": True}
    first = start_controller(lambda: SyntheticSource(kube), identity="first", state_dir=tmp_path / "first", **options)
    kube.create_experiment(with_slack(experiment(namespace, "t", interval="60s")))
    wait_for(lambda: phase(kube, namespace, "t", "Progressing"), "the first step", timeout=30)
    root = wait_for(lambda: [m for m in slack.messages() if m.thread_ts is None] or None, "the thread's first message")
    wait_for(lambda: THREAD_ANNOTATION in annotations_of(kube, namespace, "t"), "the thread kept on the Experiment")
    first.stop()  # releases the Lease, as a replaced pod does

    second = start_controller(
        lambda: SyntheticSource(kube), identity="second", state_dir=tmp_path / "second", **options
    )
    wait_for(lambda: Key(namespace, "t") in second.runs, "the run taken over by the second replica")
    updates = next(m for m in slack.messages() if m.ts == root[0].ts).updates
    kube.patch_experiment(namespace, "t", {"metadata": {"annotations": {COMMAND_ANNOTATION: "abort"}}})
    wait_for(lambda: phase(kube, namespace, "t", "Aborted"), "the abort", timeout=30)

    said = wait_for(
        lambda: [m for m in slack.messages() if m.thread_ts and "abort" in json.dumps(m.blocks).lower()] or None,
        "the abort told in the thread",
        timeout=20,
    )
    assert [m.ts for m in slack.messages() if m.thread_ts is None] == [root[0].ts], "no second thread"
    assert said[0].thread_ts == root[0].ts
    kept = wait_for(lambda: next(m for m in slack.messages() if m.ts == root[0].ts).updates > updates or None,
                    "the first message kept current by the second replica", timeout=20)  # fmt: skip
    assert kept and list(buttons(slack)) == ["meshroll-retry"], "once the run ended, Retry alone"


def test_a_channel_edit_mid_run_moves_its_messages_and_the_run_carries_on(
    kube: Api, namespace: str, start_controller: ControllerFactory, slack: SlackStub, tmp_path: Path
) -> None:
    """Only notify changed: the run is not superseded (back to stable, from step one); it is told where to talk."""
    kube.create_istio(namespace)
    options: dict[str, Any] = {"lease_namespace": namespace, "state_dir": tmp_path, "slack_actions": True}
    start_controller(lambda: SyntheticSource(kube), namespaces=(namespace,), **options)
    kube.create_experiment(with_slack(experiment(namespace, "t", interval="60s")))
    wait_for(lambda: phase(kube, namespace, "t", "Progressing"), "the first step", timeout=30)
    root = wait_for(lambda: [m for m in slack.messages() if m.thread_ts is None] or None, "the thread's first message")
    assert root[0].channel == slack.channel_id("#deploys")
    wait_for(lambda: buttons(slack) or None, "the run's buttons on its first message", timeout=20)
    weights = route_weights(kube.virtual_service(namespace))

    kube.patch_experiment(namespace, "t", {"spec": {"notify": {"slack": {"channel": "#releases"}}}})
    wait_for(lambda: kube.status(namespace, "t").get("observedGeneration") == 2, "generation 2 adopted", timeout=30)
    status = kube.status(namespace, "t")
    assert (status["run"], status["phase"]) == (1, "Progressing"), "the run carries on: not superseded"
    assert route_weights(kube.virtual_service(namespace)) == weights, "no traffic moved back to stable"
    wait_for(lambda: [e for e in kube.events(namespace, "t") if e["reason"] == "NotifyChanged"], "the Event saying so")

    kube.patch_experiment(namespace, "t", {"metadata": {"annotations": {COMMAND_ANNOTATION: "abort"}}})
    wait_for(lambda: phase(kube, namespace, "t", "Aborted"), "the abort", timeout=30)
    moved = wait_for(
        lambda: [m for m in slack.messages() if m.thread_ts == root[0].ts and "#releases" in m.text] or None,
        "a note in the old thread saying where the run went",
    )
    assert moved[0].channel == root[0].channel, "said in the old channel"
    old_root = next(m for m in slack.messages() if m.ts == root[0].ts)
    assert "#releases" in old_root.text and not buttons(slack), "the old first message says so, without buttons"
    new_root = wait_for(
        lambda: (
            [m for m in slack.messages() if m.thread_ts is None and m.channel == slack.channel_id("#releases")] or None
        ),
        "the run's thread in the new channel",
    )
    assert "abort" in said_in(new_root[0]), "the new channel's first message is the run's summary, aborted"
    assert not [m for m in slack.messages() if m.channel == root[0].channel and "abort" in said_in(m)]


def said_in(message: Message) -> str:
    return (message.text + json.dumps(message.blocks)).lower()
