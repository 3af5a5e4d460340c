"""``meshroll bench status``: the stored status of long runs, measured (no timing is asserted)."""

from __future__ import annotations

from typer.testing import CliRunner

from rollout.cli import app
from rollout.kube.status_size import measure


def test_half_a_day_is_thinned_packed_and_fits() -> None:
    size = measure(days=0.5, metrics=3, interval_s=60.0, steps=4, repeats=1)
    assert size.judgements == 720
    assert size.with_numbers == 3 + 3 + 20  # 3 advances, steps 0-2's last holds, the newest 20
    assert size.stored_bytes < size.thinned_bytes < size.whole_bytes
    assert size.fits and size.write_ms > 0 and size.read_ms > 0


def test_the_command_prints_one_row_per_run_length_and_refuses_bad_lengths_in_one_line() -> None:
    result = CliRunner().invoke(app, ["bench", "status", "--days", "0.1", "--days", "0.2", "--metrics", "2"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| 0.")]
    assert [row.split("|")[1].strip() for row in rows] == ["0.1 d", "0.2 d"]
    assert all("| yes |" in row for row in rows)
    refused = CliRunner().invoke(app, ["bench", "status", "--days", "0"])
    assert refused.exit_code != 0 and len(refused.output.strip().splitlines()) == 1, refused.output


def test_the_interval_is_a_duration_as_everywhere_else_and_a_bare_number_is_seconds() -> None:
    for given in ("5m", "300"):
        result = CliRunner().invoke(app, ["bench", "status", "--days", "0.1", "--metrics", "2", "--interval", given])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("# stored .status: 2 metrics judged every 5m"), result.output
    for wrong, said in (("5 minutes", "is not a duration; write it like 30s"), ("2d", "between once a second")):
        refused = CliRunner().invoke(app, ["bench", "status", "--interval", wrong])
        assert refused.exit_code != 0 and said in refused.output, refused.output
        assert len(refused.output.strip().splitlines()) == 1, refused.output
