"""Slack notifications through slack-sdk against ``tests.slackstub``: a local stand-in for Slack's Web API.

No real Slack can be reached from the test machines, so the stub speaks the same shape
(``/api/chat.postMessage``, ``/api/chat.update``, an incoming-webhook path), records what it got,
and can answer 429 with ``Retry-After`` or 5xx, go down, or hold requests.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.machine import Notify
from rollout.notify.secrets import Secret
from rollout.notify.slack import SlackNotifier, slack_bot_notifier, slack_webhook_notifier
from rollout.notify.threads import FileThreadStore
from rollout.spec import load_experiment
from rollout.status import Phase, Status
from tests.slackstub import CHANNEL_ID, SlackStub
from tests.unit.notify import events
from tests.unit.notify.events import REPO

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def slack() -> Iterator[SlackStub]:
    with SlackStub() as stub:
        yield stub


def bot(slack: SlackStub, tmp_path: Path | None = None, token: str | None = None, **options: object) -> SlackNotifier:
    settings: dict[str, object] = {"retry_initial": 0.1, "retry_max": 0.5, **options}
    threads = FileThreadStore(tmp_path / "threads.json") if tmp_path else None
    queue_file = tmp_path / "queue.json" if tmp_path else None
    return slack_bot_notifier(
        Secret(token or slack.token), "#deploys", base_url=slack.base_url, threads=threads, queue_file=queue_file,
        **settings,  # type: ignore[arg-type]
    )  # fmt: skip


def send(notifier: SlackNotifier, *notes: tuple[Status, Notify]) -> None:
    for status, note in notes:
        notifier.notify(events.experiment(), status, note)


def story() -> list[tuple[Status, Notify]]:
    return [
        (events.status(weight=10, step=0), events.started()),
        (events.status(weight=25, step=1), events.advanced()),
        (events.status(phase=Phase.ROLLED_BACK, weight=0, step=1), events.rolled_back()),
    ]


def test_the_first_event_posts_and_later_ones_reply_in_its_thread_and_update_it(slack: SlackStub) -> None:
    notifier = bot(slack)
    send(notifier, *story())
    assert notifier.close(30)

    posts = slack.requests("chat.postMessage", ok_only=True)
    assert len(posts) == 3
    root_ts = slack.messages()[0].ts
    assert "thread_ts" not in posts[0].body or posts[0].body["thread_ts"] is None
    assert [p.body.get("thread_ts") for p in posts[1:]] == [root_ts, root_ts]
    updates = slack.requests("chat.update", ok_only=True)
    assert 1 <= len(updates) <= 2, "one per later event; a newer state may replace a pending update"
    assert all(u.body["ts"] == root_ts for u in updates)
    assert all(u.body["channel"] == CHANNEL_ID for u in updates), "chat.update uses the channel id Slack returned"
    root = slack.messages()[0]
    assert root.text.startswith(":leftwards_arrow_with_hook: Rolled back: demo/demo-healthy")
    assert root.blocks[0]["type"] == "header", "the first message shows the current state"


def test_block_kit_messages_carry_the_numbers(slack: SlackStub) -> None:
    notifier = bot(slack)
    send(notifier, *story())
    assert notifier.close(30)
    reply = json.dumps(slack.requests("chat.postMessage", ok_only=True)[2].body["blocks"], ensure_ascii=False)
    assert "*latency*: :x: rollback" in reply
    assert "estimate 1.64, CS [1.31, 2.05], p-value 0.00031, n stable 48,210 / canary 5,120" in reply
    assert "e-value 152.7" in reply
    assert "commit `3f9a1c2e` by Ann Example" in reply
    assert "latency regressed beyond the 20% margin" in reply


def test_every_message_links_the_experiment_s_dashboard(slack: SlackStub) -> None:
    experiment = load_experiment(REPO / "experiments" / "canary-istio.yaml")
    notifier = bot(slack)
    for status, note in story():
        notifier.notify(experiment, status, note)
    assert notifier.close(30)

    dashboard = (
        "<https://grafana.example/d/istio-service?var-service=checkout.shop.svc.cluster.local&amp;from=1000000&amp;"
        "to={end}|Grafana>"
    )
    running, _, ended = (json.dumps(p.body["blocks"]) for p in slack.requests("chat.postMessage", ok_only=True))
    assert dashboard.format(end="now") in running
    assert dashboard.format(end="1060000") in ended, "a finished run's link ends when it ended"
    assert dashboard.format(end="1060000") in json.dumps(slack.messages()[0].blocks), "the kept-current first message"


def test_429_and_500_are_retried_and_succeed(slack: SlackStub) -> None:
    slack.fail("chat.postMessage", 429, retry_after=1)
    slack.fail("chat.update", 500)
    notifier = bot(slack)
    send(notifier, *story()[:2])
    assert notifier.close(30)

    assert [r.status for r in slack.requests("chat.postMessage")] == [429, 200, 200]
    assert [r.status for r in slack.requests("chat.update")] == [500, 200]
    assert len(slack.messages()) == 2 and slack.messages()[0].updates == 1


def test_the_notifier_returns_at_once_while_slack_hangs(slack: SlackStub) -> None:
    slack.hold()
    notifier = bot(slack)
    send(notifier, *story())  # returns although Slack answers nothing
    assert slack.requests() == []
    pending = [d.action for d in notifier.queue.pending()]
    assert pending == ["post", "post", "post", "update"], "the newer update replaced the pending one"
    slack.release()
    assert notifier.close(30)
    assert len(slack.requests("chat.postMessage", ok_only=True)) == 3


def test_while_slack_is_down_events_wait_in_a_bounded_queue_and_arrive_in_order(slack: SlackStub) -> None:
    slack.set_down(True)
    notifier = bot(slack, capacity=4)
    notes = [
        (events.status(weight=10, step=0), events.started()),
        *[(events.status(weight=10 + s, step=s), events.advanced()) for s in range(1, 5)],
        (events.status(phase=Phase.SUCCEEDED, weight=0, step=5), events.succeeded()),
    ]
    send(notifier, *notes)
    slack.wait_for("chat.postMessage", 1, ok_only=False)
    pending = notifier.queue.pending()
    assert len(pending) <= 4, "bounded by the capacity, final outcomes included"
    assert pending[-1].terminal and pending[-1].kind == "succeeded"
    slack.set_down(False)
    assert notifier.close(60)

    delivered = [m for m in slack.messages()]
    steps = [m.text for m in delivered]
    assert steps[-1].startswith(":white_check_mark: Promoted"), "the final outcome is never dropped"
    replies = [r.body["blocks"][1]["fields"][3]["text"] for r in slack.requests("chat.postMessage", ok_only=True)]
    numbers = [int(t.split("\n")[1].split(" ")[0]) for t in replies]
    assert numbers == sorted(numbers), "in order"
    assert notifier.queue.dropped >= 1


def test_the_thread_survives_a_restart(slack: SlackStub, tmp_path: Path) -> None:
    first = bot(slack, tmp_path)
    send(first, story()[0])
    assert first.close(30)
    root_ts = slack.messages()[0].ts

    second = bot(slack, tmp_path)  # a new process with the same files beside the status
    send(second, story()[1])
    assert second.close(30)

    reply = slack.requests("chat.postMessage", ok_only=True)[1]
    assert reply.body["thread_ts"] == root_ts
    assert slack.requests("chat.update", ok_only=True)[0].body["ts"] == root_ts


def test_a_thread_file_that_cannot_be_written_does_not_post_the_first_message_again_and_again(
    slack: SlackStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    notifier = bot(slack, blocked)  # the thread file would be a-file/threads.json: it cannot be written

    send(notifier, *story())
    assert notifier.close(30)

    roots = [m for m in slack.messages() if m.thread_ts is None]
    assert len(roots) == 1, "the first message is posted once"
    assert [m.thread_ts for m in slack.messages() if m.thread_ts] == [roots[0].ts] * 2
    assert "cannot save the Slack thread of demo/demo-healthy" in caplog.text


def test_a_new_run_of_the_same_experiment_starts_a_new_thread(slack: SlackStub, tmp_path: Path) -> None:
    notifier = bot(slack, tmp_path)
    send(notifier, (events.status(started_at=1000.0), events.started()))
    send(notifier, (events.status(started_at=5000.0), events.started()))
    assert notifier.close(30)
    assert [m.thread_ts for m in slack.messages()] == [None, None]


def test_the_token_never_appears_in_logs_or_errors(slack: SlackStub, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "xoxb-9999-WRONG-TOKEN-VALUE"
    slack.fail("chat.postMessage", 500, times=3)  # one attempt: the first call and two retries
    with caplog.at_level(logging.DEBUG):
        notifier = bot(slack, token=wrong, max_attempts=1)
        send(notifier, story()[0])
        assert notifier.close(30)
        refused = bot(slack, token=wrong)
        send(refused, story()[0])
        assert refused.close(30)

    assert "refused the bot token (invalid_auth)" in caplog.text
    assert "answered HTTP 500" in caplog.text
    assert wrong not in caplog.text
    assert all(wrong not in record.getMessage() for record in caplog.records)
    assert wrong not in repr(notifier.__dict__) + repr(notifier.queue.__dict__)


def test_the_incoming_webhook_mode_posts_every_event_and_keeps_its_url_out_of_logs(
    slack: SlackStub, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("webhook", 429, retry_after=1)
    with caplog.at_level(logging.DEBUG):
        notifier = slack_webhook_notifier(Secret(slack.webhook_url), retry_initial=0.1)
        send(notifier, *story())
        assert notifier.close(30)

    hooks = slack.requests("webhook", ok_only=True)
    assert len(hooks) == 3 and slack.requests("chat.update") == []
    assert "p-value 0.00031" in json.dumps(hooks[2].body["blocks"])
    assert "estimate 1.64" in hooks[2].body["text"]
    assert "hookSecretPart" not in caplog.text


def test_an_unreachable_webhook_is_retried_without_showing_its_url(caplog: pytest.LogCaptureFixture) -> None:
    with SlackStub() as gone:
        url = gone.webhook_url
    with caplog.at_level(logging.DEBUG):
        notifier = slack_webhook_notifier(Secret(url), retry_initial=0.05, max_attempts=2)
        send(notifier, story()[0])
        assert notifier.close(30)
    assert "cannot reach the Slack webhook" in caplog.text
    assert "hookSecretPart" not in caplog.text
