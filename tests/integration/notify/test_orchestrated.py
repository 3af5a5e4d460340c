"""A whole canary through the real orchestrator and state machine, told to Slack by ``notifiers_for``.

Slack is ``tests.slackstub`` (a local stand-in for its Web API); the mesh, metrics and judge are the
orchestrator tests' in-memory doubles. This is the wiring the runner and the controller use.
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis.verdicts import Outcome
from rollout.notify import close_all, notifiers_for
from rollout.orchestrator import Orchestrator
from rollout.spec import load_experiment_text
from rollout.status import Phase
from rollout.store import FileStore
from tests.slackstub import SlackStub
from tests.unit.machine.conftest import CANARY
from tests.unit.orchestrator.test_orchestrator import Clock, RecordingProvider, ScriptedJudge, Source

SHA = "0123456789abcdef0123456789abcdef01234567"
ANNOTATED = CANARY.replace(
    "metadata: {name: shop, namespace: demo}",
    "metadata:\n  name: shop\n  namespace: demo\n  annotations:\n"
    f"    meshroll.io/commit-sha: {SHA}\n    meshroll.io/commit-author: Ann Example <ann@example.com>\n"
    "    meshroll.io/commit-message: Canary checkout v2",
).replace("  analysis:", '  notify: {slack: {channel: "#deploys"}}\n  analysis:')


def test_a_promoted_canary_is_one_slack_thread_whose_first_message_ends_promoted(tmp_path: Path) -> None:
    experiment = load_experiment_text(ANNOTATED)
    clock = Clock()
    with SlackStub() as slack:
        env = {"SLACK_BOT_TOKEN": slack.token, "MESHROLL_SLACK_API_URL": slack.base_url}
        notifiers = notifiers_for(experiment, tmp_path, env=env)
        store = FileStore(tmp_path / "status.json")
        orchestrator = Orchestrator(
            experiment, RecordingProvider(), Source(), ScriptedJudge([Outcome.ADVANCE] * 4), store,
            clock=clock, notifiers=[*notifiers],
        )  # fmt: skip
        orchestrator.start()
        for _ in range(4):
            clock.now += 60
            orchestrator.observe()
        assert close_all(notifiers, 30)
        messages = slack.messages()

    assert orchestrator.status.phase is Phase.SUCCEEDED
    root, *replies = messages
    assert root.thread_ts is None and all(m.thread_ts == root.ts for m in replies)
    assert root.text.startswith(":white_check_mark: Promoted: demo/shop (checkout v1 → v2)")
    assert root.updates >= 1, "the first message was kept current"
    assert replies[-1].text.startswith(":white_check_mark: Promoted")
    final = json.dumps(root.blocks)
    assert "*errors*: :white_check_mark: advance" in final, "the final state shows the numbers that decided it"
    shown = json.dumps([m.blocks for m in messages], ensure_ascii=False)
    assert "commit `01234567` by Ann Example &lt;ann@example.com&gt;: Canary checkout v2" in shown
    assert "*errors*: :white_check_mark: advance" in shown and "n stable 5,000 / canary 5,000" in shown
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo.shop.slack-queue.json",
        "demo.shop.slack-thread.json",
        "status.json",
    ], "the queue and the thread are kept beside the status"
