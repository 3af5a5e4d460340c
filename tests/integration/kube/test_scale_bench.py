"""``meshroll bench controller`` against the real API server with a few experiments: the table has its
shape, every run ends, and the bench leaves its namespace deleted. No timing is asserted."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.controlplane.fixture import ControlPlane
from tests.integration.kube.helpers import Api

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(240)]

MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]
COLUMNS = [
    "N",
    "finished",
    "create→weights median",
    "p90",
    "reconcile median",
    "p90",
    "reconciles",
    "API req/exp/min",
    "CPU s",
    "peak RSS",
    "wall",
]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_bench_runs_three_canaries_to_the_end_and_prints_its_table(controlplane: ControlPlane, kube: Api) -> None:
    done = subprocess.run(
        [*MESHROLL, "bench", "controller", "-N", "3", "--interval", "2", f"--kubeconfig={controlplane.kubeconfig}"],
        capture_output=True,
        text=True,
        timeout=200,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr

    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| N |"))
    assert cells(lines[header]) == COLUMNS
    row = cells(lines[header + 2])
    assert row[0] == "3" and row[1] == "yes (3/3)", row
    assert all(re.fullmatch(r"[\d.,]+ (s|ms)", row[i]) for i in (2, 3, 4, 5)), row
    assert int(row[6].replace(",", "")) >= 3  # at least one reconcile per experiment
    assert float(row[7]) > 0 and float(row[8]) > 0 and row[9].endswith("MiB")
    assert "| PUT experiments/status |" in out and "| LIST experiments |" in out  # the breakdown by kind
    assert "metric source: synthetic traffic" in out
    namespace = re.search(r"namespace (meshroll-bench-\w+)", out)
    assert namespace is not None
    found = controlplane.request("GET", f"/api/v1/namespaces/{namespace.group(1)}").body
    assert found.get("status", {}).get("phase") == "Terminating"  # deleted (this API server never finishes it)


def test_the_bench_says_in_one_line_when_the_kubeconfig_is_missing(tmp_path_factory: pytest.TempPathFactory) -> None:
    missing = tmp_path_factory.mktemp("nokube") / "kubeconfig"
    done = subprocess.run(
        [*MESHROLL, "bench", "controller", "-N", "1", f"--kubeconfig={missing}"], capture_output=True, text=True
    )
    assert done.returncode == 1 and "no kubeconfig at" in done.stderr, done.stderr
