"""``meshroll gitops`` as a user runs it: real processes, real git repositories, one-line errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.gitops.gitrepo import BROKEN_YAML, Origin, experiment_yaml
from tests.slackstub import SlackStub

REPO = Path(__file__).resolve().parents[3]
MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]

pytestmark = pytest.mark.timeout(120)


def gitops(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    return subprocess.run(
        [*MESHROLL, "gitops", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environment
    )


@pytest.fixture
def origin(tmp_path: Path) -> Origin:
    return Origin(tmp_path / "remote")


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_bad_input_is_one_clear_line_and_exit_1(origin: Origin, tmp_path: Path) -> None:
    empty = Origin(tmp_path / "empty")
    assert one_line(gitops("--repo", empty.url, "--local", "--once", cwd=tmp_path)) == (
        f"meshroll: {empty.url} has no branches yet (an empty repository); push a first commit to main"
    )
    origin.commit("Initial")
    origin.push()
    missing = tmp_path / "no-such-repo"

    assert one_line(gitops("--repo", str(missing), "--local", "--once", cwd=tmp_path)) == (
        f"meshroll: cannot read the repository ({missing}): fatal: '{missing}' does not appear to be a git repository"
    )
    assert one_line(gitops("--repo", origin.url, "--branch", "dev", "--local", "--once", cwd=tmp_path)) == (
        f"meshroll: branch 'dev' not found in {origin.url} (it has main); check --branch"
    )
    assert one_line(gitops("--repo", origin.url, "--interval", "soon", "--local", cwd=tmp_path)) == (
        "meshroll: --interval 'soon' is not a duration; write it like 30s, 2m or 1h (a bare number is seconds)"
    )
    assert one_line(gitops("--repo", origin.url, "--listen", "127.0.0.1:0", "--local", cwd=tmp_path)) == (
        "meshroll: --listen needs --webhook-secret-env NAME: the environment variable with the webhooks' secret"
    )
    assert one_line(gitops("--repo", origin.url, "--listen", "nowhere", "--local", cwd=tmp_path)) == (
        "meshroll: --listen 'nowhere' is not HOST:PORT; write it like 127.0.0.1:8088"
    )
    assert one_line(gitops("--repo", origin.url, "--path", "../deploy", "--local", "--once", cwd=tmp_path)) == (
        "meshroll: --path '../deploy' leaves the repository; give a folder inside it, like experiments/"
    )
    no_token = gitops("--repo", origin.url, "--slack-channel", "#deploys", "--local", "--once", cwd=tmp_path,
                      env={"SLACK_BOT_TOKEN": ""})  # fmt: skip
    assert one_line(no_token) == (
        "meshroll: --slack-channel #deploys needs a bot token in $SLACK_BOT_TOKEN; set it, or drop --slack-channel"
    )
    kubeconfig = tmp_path / "missing-kubeconfig"
    assert one_line(gitops("--repo", origin.url, "--kubeconfig", str(kubeconfig), "--once", cwd=tmp_path)).startswith(
        f"meshroll: cannot load {kubeconfig}: "
    )
    assert not (tmp_path / ".meshroll").exists(), "bad input changes nothing"


def test_once_with_a_path_that_matches_no_experiment_file_is_one_line_and_exit_1(
    origin: Origin, tmp_path: Path
) -> None:
    origin.write("deploy/experiments/checkout.yaml", experiment_yaml("checkout"))
    tip = origin.commit("Add checkout under deploy/")
    origin.push()
    state = tmp_path / "state.json"
    args = ("--repo", origin.url, "--local", "--once", "--state", str(state), "--path", "experiments/")

    first = gitops(*args, cwd=tmp_path)
    again = gitops(*args, cwd=tmp_path)  # a second pass over the same tip says it again

    expected = (
        f"meshroll: --path 'experiments/' matches no experiment file (.yaml, .yml) under experiments/ at commit "
        f"{tip[:8]} of {origin.url} branch main (its YAML files are under deploy/experiments/); give --path the "
        "folder that holds the experiments, or commit one under it"
    )
    assert one_line(first) == expected
    assert one_line(again) == expected
    assert first.stdout == "", "nothing processed, nothing started"
    assert not (tmp_path / "state.d" / "runs").exists()


def test_once_reports_an_invalid_file_to_slack_and_the_log_and_exits_2_then_0(origin: Origin, tmp_path: Path) -> None:
    origin.write("experiments/broken.yaml", BROKEN_YAML)
    sha = origin.commit("Add a broken experiment")
    origin.push()
    state = tmp_path / "state.json"
    with SlackStub() as slack:
        env = {"SLACK_BOT_TOKEN": slack.token, "MESHROLL_SLACK_API_URL": slack.base_url}
        args = ("--repo", origin.url, "--local", "--once", "--state", str(state), "--slack-channel", "#deploys")
        first = gitops(*args, cwd=tmp_path, env=env)
        second = gitops(*args, cwd=tmp_path, env=env)
        posts = slack.requests("chat.postMessage", ok_only=True)

    assert first.returncode == 2, first.stderr
    assert "experiments/broken.yaml:5:3 spec.target.stable: required field is missing" in first.stderr
    assert f"processed up to {sha[:8]}" in first.stdout
    assert len(posts) == 1, "reported once"
    notice = json.dumps(posts[0].body["blocks"])
    assert "Invalid experiment file experiments/broken.yaml" in notice
    assert "experiments/broken.yaml:4:1 spec.mesh: required field is missing" in notice
    assert slack.token not in first.stderr + first.stdout
    assert second.returncode == 0 and "processed up to" in second.stdout
    assert not (tmp_path / "state.d" / "runs").exists(), "nothing was started"


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_local_mode_runs_the_committed_experiment_with_meshroll_run_and_its_status_names_the_commit(
    origin: Origin, tmp_path: Path
) -> None:
    """End to end: commit, ``meshroll gitops --local --once``, a real ``meshroll run`` on the embedded mesh.

    The experiment's canary errors on 30% of requests, so the run rolls back after its first 2 s step.
    """
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    sha = origin.commit("Canary checkout v2")
    origin.push()
    state = tmp_path / "state.json"

    result = gitops("--repo", origin.url, "--local", "--once", "--state", str(state), cwd=tmp_path, timeout=80)
    again = gitops("--repo", origin.url, "--local", "--once", "--state", str(state), cwd=tmp_path, timeout=30)

    assert result.returncode == 0, result.stderr
    assert "started demo/checkout: new experiment" in result.stdout
    assert "local run of demo/checkout ended with exit 2" in result.stdout  # 2: rolled back
    run = tmp_path / "state.d" / "runs" / "demo.checkout"
    status = json.loads((run / "status.json").read_text())
    assert status["phase"] == "RolledBack"
    assert status["source"]["commit"] == sha
    assert status["source"]["author"] == "Ann Example <ann@example.com>"
    assert status["source"]["message"] == "Canary checkout v2"
    assert status["source"]["path"] == "experiments/checkout.yaml"
    assert again.returncode == 0 and "started" not in again.stdout, "exactly once"


def test_a_signed_push_webhook_makes_the_running_trigger_poll_at_once(origin: Origin, tmp_path: Path) -> None:
    origin.commit("Initial")
    origin.push()
    log = tmp_path / "gitops.log"
    secret = "push-secret"
    args = ["--repo", origin.url, "--local", "--interval", "1h", "--state", str(tmp_path / "state.json"),
            "--listen", "127.0.0.1:0", "--webhook-secret-env", "PUSH_SECRET"]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(
            [*MESHROLL, "gitops", *args], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PUSH_SECRET": secret},
        )  # fmt: skip
    try:
        url = wait_for_line(log, "push webhooks: POST ").split("POST ", 1)[1].strip()
        wait_for(lambda: (tmp_path / "state.json").exists())  # the first poll is done: the interval is 1 h
        origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
        sha = origin.commit("Canary checkout")
        origin.push()
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": signature})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        started = wait_for_line(log, "started demo/checkout")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert "new experiment" in started and sha[:8] in started
    lines = log.read_text().splitlines()
    pushed = next(i for i, line in enumerate(lines) if "push webhook from github (delivery d-1): polling now" in line)
    assert pushed < lines.index(started), "started by the push, not by the interval"
    assert process.returncode == 0
    assert "Traceback" not in log.read_text()


def test_the_running_trigger_on_an_empty_repository_waits_for_the_first_push_and_starts_it(
    origin: Origin, tmp_path: Path
) -> None:
    log = tmp_path / "gitops.log"
    args = ["--repo", origin.url, "--local", "--interval", "1s", "--state", str(tmp_path / "state.json")]
    with log.open("w") as out:
        process = subprocess.Popen([*MESHROLL, "gitops", *args], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        waiting = wait_for_line(log, "waiting for the first push")
        origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
        sha = origin.commit("The first commit")
        origin.push()
        started = wait_for_line(log, "started demo/checkout")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    assert waiting == (
        f"meshroll gitops: repository {origin.url} has no commits on branch main yet; waiting for the first push"
    )
    assert "new experiment" in started and sha[:8] in started
    assert log.read_text().count("waiting for the first push") == 1, "said once, not at every poll"
    assert process.returncode == 0
    assert "Traceback" not in log.read_text() and "gitops: error:" not in log.read_text()


def test_a_second_trigger_on_the_same_state_file_is_refused_until_the_first_stops(
    origin: Origin, tmp_path: Path
) -> None:
    # Two triggers sharing a state file would each start the same committed experiment.
    origin.write("experiments/checkout.yaml", experiment_yaml("checkout"))
    origin.commit("Initial")
    origin.push()
    state = tmp_path / "state.json"
    args = ["--repo", origin.url, "--local", "--state", str(state), "--skip-existing"]  # recorded, not run
    log = tmp_path / "first.log"
    with log.open("w") as out:
        first = subprocess.Popen(
            [*MESHROLL, "gitops", *args, "--interval", "1h"], cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_for(state.exists)  # the first poll is done, the lock is held
        refused = gitops(*args, "--once", cwd=tmp_path)
        assert one_line(refused) == (
            f"meshroll: the state file {state} is in use by another meshroll gitops process (pid {first.pid}); "
            "stop that one, or give this one its own --state"
        )
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(60)
    after = gitops(*args, "--once", cwd=tmp_path)  # the lock died with its process
    assert after.returncode == 0, after.stderr


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def wait_for_line(log: Path, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in the log within {timeout}s:\n{log.read_text()}")
