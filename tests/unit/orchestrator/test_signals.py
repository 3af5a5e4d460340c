"""Ctrl-C during a run: the first one is remembered (the run aborts at its next safe point); a second
one does not cut the abort short, and says once why the run has not ended yet."""

from __future__ import annotations

import os
import signal

import pytest

from rollout.runner import Signals


def test_a_second_ctrl_c_says_once_that_the_abort_is_under_way(capsys: pytest.CaptureFixture[str]) -> None:
    with Signals() as signals:
        os.kill(os.getpid(), signal.SIGINT)
        assert signals.received == "SIGINT"
        assert capsys.readouterr().err == "", "the first signal is quiet: the abort's own line follows"
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGINT)
        assert signals.received == "SIGINT"
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and said.startswith("meshroll: already aborting: the step under way")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handler is given back"
