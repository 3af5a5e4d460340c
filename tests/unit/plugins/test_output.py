"""What a plugin prints (at import, when made, when judging) goes to stderr, so that meshroll's own
output stays whole; what meshroll's other threads print meanwhile still goes to stdout."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from analysis.contained import ContainedJudge
from analysis.engines import engine_for
from analysis.verdicts import Outcome
from tests.unit.engine.helpers import ERRORS, config, errors_pair, step

from .helpers import experiment, install
from .test_cli import meshroll

CHATTY = """
import threading
from analysis.verdicts import Decision, Outcome

print("chatty: imported")
STARTED, PRINTED = threading.Event(), threading.Event()

class Chatty:
    def __init__(self):
        print("chatty: made")

    def judge(self, steps, config, *, final=False):
        print("chatty: judging")
        STARTED.set()
        PRINTED.wait(5)
        return Decision(Outcome.HOLD, "chatty holds", "chatty")
"""
STEPS = [step(0, {"errors": errors_pair((9_000.0, 9.0), (1_000.0, 1.0))})]


def test_a_plugins_prints_go_to_stderr_and_another_threads_to_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(
        str(install(tmp_path, "chatty", {"chatty": "chatty_judge:Chatty"}, {"chatty_judge": CHATTY}))
    )
    judge = engine_for("chatty")
    module = sys.modules["chatty_judge"]

    def meshroll_prints() -> None:
        module.STARTED.wait(5)
        print("meshroll: step 1")
        module.PRINTED.set()

    other = threading.Thread(target=meshroll_prints)
    other.start()
    decision = judge.judge(STEPS, config(ERRORS))
    other.join()
    assert decision.outcome is Outcome.HOLD and decision.reason == "chatty holds"
    out, err = capsys.readouterr()
    assert out == "meshroll: step 1\n"
    assert err == "chatty: imported\nchatty: made\nchatty: judging\n"
    print("after")
    assert capsys.readouterr().out == "after\n"  # stdout is put back


def test_validate_prints_only_its_own_line_with_a_plugin_that_prints_at_import(tmp_path: Path) -> None:
    site = install(tmp_path / "site", "chatty", {"chatty": "chatty_judge:Chatty"}, {"chatty_judge": CHATTY})
    path = tmp_path / "chatty.yaml"
    path.write_text(experiment("chatty"))
    result = meshroll(site, "validate", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"{path}:", "ok", "(demo/shop)"]
    assert "chatty: imported" in result.stderr


def test_a_call_that_outlives_its_time_still_prints_to_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    late = CHATTY.replace('return Decision(Outcome.HOLD, "chatty holds", "chatty")', 'print("chatty: late")')
    site = install(tmp_path, "late", {"late": "late_judge:Chatty"}, {"late_judge": late})
    monkeypatch.syspath_prepend(str(site))
    judge = engine_for("late")
    assert isinstance(judge, ContainedJudge)
    judge.seconds = 0.05
    module = sys.modules["late_judge"]
    assert judge.judge(STEPS, config(ERRORS)).blocked  # it did not answer in time
    module.STARTED.wait(5)
    module.PRINTED.set()  # now it prints, after meshroll moved on
    judge._running.join(5)  # type: ignore[union-attr]
    out, err = capsys.readouterr()
    assert out == "" and err.endswith("chatty: judging\nchatty: late\n")
