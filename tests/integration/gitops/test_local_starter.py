"""The local starter's process handling, with a stand-in command for ``meshroll`` (a real one runs in test_cli)."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import pytest
import yaml

from rollout.gitops import LocalStarter, StartRequest
from rollout.gitops.trigger import Action, parse_experiment_file
from rollout.spec import load_experiment_text
from tests.integration.gitops.gitrepo import experiment_yaml

# Stands in for "meshroll": records its arguments, writes a status, then waits to be stopped.
FAKE_MESHROLL = [
    sys.executable,
    "-c",
    "import sys, time, pathlib; print(' '.join(sys.argv[1:]), flush=True); "
    "pathlib.Path(sys.argv[4]).write_text('{}'); time.sleep(60)",
]


def request(canary: str) -> StartRequest:
    text = experiment_yaml("checkout", canary)
    manifest = parse_experiment_file(text, "e.yaml").documents[0]
    manifest["metadata"]["annotations"] = {"meshroll.io/commit-sha": "abc"}
    return StartRequest(
        Action("start", "demo/checkout", canary, "test"), load_experiment_text(text), manifest, "e.yaml"
    )


def test_a_newer_version_stops_the_running_one_and_starts_from_a_fresh_status(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "meshroll.gitops")
    starter = LocalStarter(tmp_path, command=FAKE_MESHROLL)
    starter.start(request("v2"))
    first = starter.runs["demo/checkout"].process
    folder = tmp_path / "runs" / "demo.checkout"
    for _ in range(200):  # wait (bounded) for the stand-in to write its status
        if (folder / "status.json").exists():
            break
        time.sleep(0.05)

    starter.start(request("v3"))

    assert first.poll() is not None, "the old run was stopped (SIGTERM)"
    assert f"stopping the local run of demo/checkout (pid {first.pid}) for a newer version" in caplog.text
    assert (folder / "status.previous.json").exists()
    written = yaml.safe_load((folder / "experiment.yaml").read_text())
    assert written["spec"]["target"]["canary"]["version"] == "v3"
    assert written["metadata"]["annotations"] == {"meshroll.io/commit-sha": "abc"}
    assert list(starter.runs) == ["demo/checkout"]
    second = starter.runs["demo/checkout"].process
    starter.stop_all()  # what stopping `meshroll gitops` (SIGINT, SIGTERM) does
    assert starter.runs == {}
    assert f"stopping the local run of demo/checkout (pid {second.pid}) because the trigger is stopping" in caplog.text
    assert caplog.text.count("for a newer version") == 1
    log = (folder / "run.log").read_text()
    assert f"run {folder / 'experiment.yaml'} --status-out {folder / 'status.json'}" in log
