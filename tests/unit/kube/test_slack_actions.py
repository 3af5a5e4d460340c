"""A Slack click's way to an operator command: who may, which run, what is patched, and the endpoint's answers.

Slack is played by ``tests/slackstub/clicks.py`` (a stand-in: Slack cannot be reached here); the
Experiments are a small in-memory store. The real API server is in
``tests/integration/kube/test_slack_actions.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from rollout.errors import RolloutError
from rollout.kube.client import Conflict, NotFound
from rollout.kube.command_by import COMMAND_BY_ANNOTATION, command_author
from rollout.kube.document import RunInfo, compose
from rollout.kube.objects import Key
from rollout.kube.reconcile import COMMAND_ANNOTATION
from rollout.kube.server import HealthServer
from rollout.kube.slack_actions import (
    CONFLICT_ATTEMPTS,
    PATH,
    ActionSettings,
    SlackActions,
    action_settings,
    decide,
    parse_allowed_users,
)
from rollout.notify.buttons import ActionValue
from rollout.notify.interactions import Click
from rollout.notify.secrets import Secret
from rollout.status import Phase, Status, Traffic
from tests.slackstub.clicks import SIGNING_SECRET, click_body, post, signed

ALICE = "U0ALICE01"
SETTINGS = ActionSettings(Secret(SIGNING_SECRET), frozenset({ALICE}), response_hosts=("hooks.slack.com", "stand-in"))
RUN = "1000.000"


def stored(phase: Phase = Phase.PROGRESSING, started_at: float = 1000.0) -> dict[str, Any]:
    status = Status(phase=phase, step=0, traffic=Traffic(canary_weight=10), started_at=started_at, traffic_applied=True)
    return {
        "metadata": {"name": "checkout", "namespace": "shop", "resourceVersion": "42", "annotations": {}},
        "status": compose(status, RunInfo(run=3, generation=1), [], "test"),
    }


def click(command: str = "abort", user: str = ALICE, run: str = RUN, response_url: str = "") -> Click:
    return Click(user, "alice", ActionValue("shop/checkout", run, command), "1732288888.123456", response_url)


# --- the decision (pure) -----------------------------------------------------------------------------


def test_an_allowed_click_on_the_current_run_sets_a_fresh_command_and_its_author() -> None:
    outcome = decide(click(), stored(), SETTINGS)
    assert outcome.annotations == {
        COMMAND_ANNOTATION: f"abort:slack-{ALICE}-1732288888.123456",
        COMMAND_BY_ANNOTATION: f"slack:{ALICE} (alice)",
    }
    assert outcome.resource_version == "42"
    assert "Abort of shop/checkout (run 3) requested by <@U0ALICE01>" in outcome.message


def test_with_no_allowed_users_every_click_is_refused_saying_how_to_allow() -> None:
    outcome = decide(click(), stored(), ActionSettings(Secret("s"), frozenset()))
    assert outcome.annotations is None
    assert "no user is allowed" in outcome.message and "--slack-allowed-users" in outcome.message
    assert "slack.interactivity.allowedUsers" in outcome.message and ALICE in outcome.message


def test_an_unknown_user_is_refused() -> None:
    outcome = decide(click(user="U0MALLORY"), stored(), SETTINGS)
    assert outcome.annotations is None
    assert "You (U0MALLORY) may not abort shop/checkout" in outcome.message


def test_a_click_on_an_older_run_s_message_changes_nothing() -> None:
    outcome = decide(click(run="999.000"), stored(), SETTINGS)
    assert outcome.annotations is None
    assert "older run of shop/checkout (run 3 is the current one)" in outcome.message


@pytest.mark.parametrize("phase", [Phase.SUCCEEDED, Phase.ABORTED, Phase.ROLLED_BACK, Phase.PROMOTING])
def test_a_run_no_longer_under_way_is_left_alone(phase: Phase) -> None:
    outcome = decide(click(), stored(phase), SETTINGS)
    assert outcome.annotations is None and f"is {phase.value}: nothing to abort" in outcome.message


@pytest.mark.parametrize("phase", [Phase.ROLLED_BACK, Phase.ABORTED, Phase.INCONCLUSIVE])
def test_retry_is_taken_for_a_run_that_ended_without_promotion(phase: Phase) -> None:
    outcome = decide(click("retry"), stored(phase), SETTINGS)
    assert outcome.annotations is not None and outcome.annotations[COMMAND_ANNOTATION].startswith("retry:slack-")


@pytest.mark.parametrize(
    ("phase", "why"),
    [(Phase.SUCCEEDED, "a promoted release is not run again"), (Phase.PROGRESSING, "it has not ended")],
)
def test_retry_is_refused_after_a_promotion_and_under_way(phase: Phase, why: str) -> None:
    outcome = decide(click("retry"), stored(phase), SETTINGS)
    assert outcome.annotations is None and why in outcome.message


def test_pausing_a_paused_run_changes_nothing() -> None:
    assert decide(click("pause"), stored(Phase.PAUSED), SETTINGS).annotations is None
    assert decide(click("resume"), stored(Phase.PROGRESSING), SETTINGS).annotations is None
    assert decide(click("resume"), stored(Phase.PAUSED), SETTINGS).annotations is not None


def test_a_deleted_experiment_or_an_unwatched_namespace_changes_nothing() -> None:
    assert "no longer exists" in decide(click(), None, SETTINGS).message
    elsewhere = ActionSettings(SETTINGS.secret, SETTINGS.allowed_users, ("payments",))
    assert "not in a namespace this controller watches" in decide(click(), stored(), elsewhere).message


def test_the_author_is_believed_only_while_the_command_names_them() -> None:
    annotations = {COMMAND_BY_ANNOTATION: f"slack:{ALICE} (alice)"}
    assert command_author(annotations, f"abort:slack-{ALICE}-1.2") == f"slack:{ALICE} (alice)"
    assert command_author(annotations, "abort") is None  # set by hand afterwards
    assert command_author(annotations, "abort:slack-U0MALLORY-1.2") is None
    assert command_author({}, f"abort:slack-{ALICE}-1.2") is None


# --- the settings from the flags ----------------------------------------------------------------------


def test_allowed_users_are_slack_ids() -> None:
    assert parse_allowed_users(" U012AB3CD, W0456,U0789XYZ ") == {"U012AB3CD", "W0456", "U0789XYZ"}
    assert parse_allowed_users("") == frozenset()
    with pytest.raises(RolloutError, match="'alice' is not a Slack user ID"):
        parse_allowed_users("U012AB3CD,alice")


def test_the_signing_secret_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("abc123\n")
    settings = action_settings(secret_file, "U012AB3CD", ("shop",), {})
    assert settings is not None and settings.secret.reveal() == "abc123" and settings.namespaces == ("shop",)
    from_env = action_settings(None, "", (), {"MESHROLL_SLACK_SIGNING_SECRET": "xyz"})
    assert from_env is not None and from_env.secret.reveal() == "xyz" and not from_env.allowed_users
    assert action_settings(None, "", (), {}) is None  # off


def test_a_bad_secret_file_or_users_without_a_secret_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RolloutError, match=r"--slack-signing-secret-file .*missing: cannot read it"):
        action_settings(tmp_path / "missing", "", (), {})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(RolloutError, match="is empty"):
        action_settings(tmp_path / "empty", "", (), {})
    with pytest.raises(RolloutError, match="--slack-allowed-users needs --slack-signing-secret-file"):
        action_settings(None, "U012AB3CD", (), {})


# --- the endpoint on the controller's HTTP server, with an in-memory store ----------------------------


class MemoryExperiments:
    """An API server's Experiments: ``writes_between`` are the objects the controller stores, one between each
    of the click's reads and its write (the write then conflicts, as on a real server)."""

    def __init__(
        self, obj: dict[str, Any] | None, fail: Exception | None = None, writes_between: Sequence[dict[str, Any]] = ()
    ) -> None:
        self.obj = obj
        self.fail = fail
        self.writes_between = list(writes_between)
        self.patches: list[tuple[Key, dict[str, str], str]] = []

    def get(self, key: Key) -> dict[str, Any]:
        if self.obj is None:
            raise NotFound("gone", status=404)
        return self.obj

    def patch_annotations(self, key: Key, annotations: Mapping[str, str], resource_version: str) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        if self.writes_between:
            self.obj = self.writes_between.pop(0)
        assert self.obj is not None
        if resource_version != self.obj["metadata"]["resourceVersion"]:
            raise Conflict("the object has been modified", status=409)
        self.patches.append((key, dict(annotations), resource_version))
        return {}


class Replies:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self.event = threading.Event()

    def __call__(self, url: str, message: str) -> None:
        self.got.append((url, message))
        self.event.set()

    def wait(self) -> str:
        assert self.event.wait(5), "no reply to the click"
        return self.got[-1][1]


def serve(experiments: MemoryExperiments, replies: Replies, settings: ActionSettings = SETTINGS) -> HealthServer:
    actions = SlackActions(experiments, settings, respond=replies)  # type: ignore[arg-type]
    return HealthServer(
        ("127.0.0.1", 0), CollectorRegistry(), healthy=list, ready=list, posts={PATH: actions.handle}
    ).start()


def body(command: str = "abort", user: str = ALICE, run: str = RUN) -> bytes:
    value = ActionValue("shop/checkout", run, command).encode()
    return click_body(value, action_id=f"meshroll-{command}", user_id=user, response_url="http://stand-in/response")


@pytest.fixture
def replies() -> Replies:
    return Replies()


def test_a_verified_click_is_answered_200_and_patched(replies: Replies) -> None:
    experiments = MemoryExperiments(stored())
    server = serve(experiments, replies)
    try:
        status, _ = post(f"http://127.0.0.1:{server.port}{PATH}", body(), signed(body()))
        assert status == 200
        assert "requested by <@U0ALICE01>" in replies.wait()
        assert experiments.patches == [
            (
                Key("shop", "checkout"),
                {
                    COMMAND_ANNOTATION: f"abort:slack-{ALICE}-1732288888.123456",
                    COMMAND_BY_ANNOTATION: f"slack:{ALICE} (alice)",
                },
                "42",
            )
        ]
    finally:
        server.stop()


def test_unverified_requests_get_401_and_change_nothing(replies: Replies) -> None:
    experiments = MemoryExperiments(stored())
    server = serve(experiments, replies)
    url = f"http://127.0.0.1:{server.port}{PATH}"
    try:
        assert post(url, body(), signed(body(), secret="wrong"))[0] == 401
        assert post(url, body(), signed(body(), timestamp=1_500_000_000))[0] == 401
        assert post(url, body(), {"Content-Type": "application/x-www-form-urlencoded"})[0] == 401
        assert post(f"http://127.0.0.1:{server.port}/slack/other", body(), signed(body()))[0] == 404
        genuine_but_not_ours = b"payload=%7B%22type%22%3A%22shortcut%22%7D"
        assert post(url, genuine_but_not_ours, signed(genuine_but_not_ours))[0] == 400
        assert not experiments.patches and not replies.got
    finally:
        server.stop()


def written(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """``obj`` as the controller stored it again: the same status under a new resourceVersion."""
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}


def test_a_click_that_loses_a_race_with_the_controller_is_decided_again_on_the_new_object(replies: Replies) -> None:
    experiments = MemoryExperiments(stored(), writes_between=[written(stored(), "43")])
    actions = SlackActions(experiments, SETTINGS, respond=replies)  # type: ignore[arg-type]
    outcome = actions.act(click(response_url="http://stand-in/response"))
    assert [version for _, _, version in experiments.patches] == ["43"]
    assert "Abort of shop/checkout (run 3) requested by" in replies.wait()
    assert outcome.annotations is not None


def test_a_click_decided_again_sees_what_the_controller_did_meanwhile(replies: Replies) -> None:
    aborted = written(stored(Phase.ABORTED), "43")
    experiments = MemoryExperiments(stored(), writes_between=[aborted])
    actions = SlackActions(experiments, SETTINGS, respond=replies)  # type: ignore[arg-type]
    actions.act(click(command="pause", response_url="http://stand-in/response"))
    assert not experiments.patches
    assert "is Aborted: nothing to pause" in replies.wait()


def test_an_object_that_keeps_changing_says_to_click_again(replies: Replies) -> None:
    busy = [written(stored(), str(43 + i)) for i in range(CONFLICT_ATTEMPTS)]
    experiments = MemoryExperiments(stored(), writes_between=busy)
    actions = SlackActions(experiments, SETTINGS, respond=replies)  # type: ignore[arg-type]
    outcome = actions.act(click(response_url="http://stand-in/response"))
    assert not experiments.patches
    assert "kept changing while your click was handled" in outcome.message and "Click again" in replies.wait()


def test_a_reply_goes_only_to_slack_or_the_configured_stand_in() -> None:
    from rollout.kube.slack_actions import answerable

    hosts = ("hooks.slack.com", "stand-in")
    assert answerable("https://hooks.slack.com/actions/T1/2/abc", hosts)
    assert not answerable("http://hooks.slack.com/actions/T1/2/abc", hosts), "Slack's host over https only"
    assert answerable("http://stand-in/response", hosts)
    assert not answerable("http://kubernetes.default.svc/api", hosts)
    assert not answerable("http://169.254.169.254/latest/meta-data", hosts)
    assert not answerable("file:///etc/passwd", hosts)


def test_settings_from_the_flags_answer_slack_and_the_api_url_stand_in(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    settings = action_settings(secret, ALICE, (), {"MESHROLL_SLACK_API_URL": "http://127.0.0.1:9/api/"})
    assert settings is not None and settings.response_hosts == ("hooks.slack.com", "127.0.0.1")
    plain = action_settings(secret, ALICE, (), {})
    assert plain is not None and plain.response_hosts == ("hooks.slack.com",)
