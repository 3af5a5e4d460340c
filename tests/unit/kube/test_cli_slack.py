"""``meshroll controller``'s Slack flags: a mistake is one line, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.kube.test_cli import meshroll


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slack-signing-secret-file", "/no/such/file"], "meshroll: --slack-signing-secret-file /no/such/file: "),
        (["--slack-allowed-users", "U012AB3CD"], "meshroll: --slack-allowed-users needs --slack-signing-secret-file"),
        (["--slack-allowed-users", "alice"], "meshroll: --slack-allowed-users: 'alice' is not a Slack user ID"),
    ],
)
def test_a_slack_flag_mistake_is_one_line_and_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    result = meshroll("controller", "--kubeconfig", str(tmp_path / "none"), *args)
    assert result.returncode == 1
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
