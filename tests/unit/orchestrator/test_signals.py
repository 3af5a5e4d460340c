"""Ctrl-C during a run: the first one is remembered (the run aborts at its next safe point); a second
one does not cut the abort short, and says once why the run has not ended yet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

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
    assert said.count("\n") == 1 and said.startswith("meshroll: already aborting: the change under way")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handler is given back"


def test_ctrl_c_while_the_cli_is_still_loading_is_one_line_not_a_traceback() -> None:
    """The console script imports the CLI first (half a second); a Ctrl-C then used to print ~50 lines."""
    script = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'rollout.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from rollout.entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (130, "meshroll: interrupted\n", "")
