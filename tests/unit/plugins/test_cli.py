"""Engine plugins on the command line, in a meshroll whose PYTHONPATH holds them as an installed package would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .helpers import ROOT, experiment, install, install_ratio

MESHROLL = [sys.executable, "-c", "from rollout.cli import main; main()"]


def meshroll(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "MESHROLL_PROMETHEUS_URL")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([*MESHROLL, *args], capture_output=True, text=True, timeout=120, env=env)


def test_engines_lists_the_plugins_and_says_which_are_ignored(tmp_path: Path) -> None:
    site = install_ratio(tmp_path / "site")
    install(site, "shadow", {"kayenta": "meshroll_ratio:RatioJudge"})
    result = meshroll(site, "engines")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "sequential: built-in",
        "kayenta: built-in",
        "threshold: built-in",
        "ratio: plugin, entry point meshroll_ratio:RatioJudge of meshroll-ratio 0.1",
    ]
    assert result.stderr.startswith("warning: engine plugin 'kayenta' (entry point meshroll_ratio:RatioJudge of")


def test_validate_takes_an_installed_plugin_and_refuses_an_unknown_engine_with_the_list(tmp_path: Path) -> None:
    site = install_ratio(tmp_path / "site")
    good, bad = tmp_path / "ratio.yaml", tmp_path / "bayes.yaml"
    good.write_text(experiment("ratio"))
    bad.write_text(experiment("bayes"))
    accepted = meshroll(site, "validate", str(good))
    assert accepted.returncode == 0 and " ".join(accepted.stdout.split()) == f"{good}: ok (demo/shop)"
    refused = meshroll(site, "validate", str(bad))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"{bad}:9:5 spec.analysis.engine: unknown analysis engine 'bayes': use one of sequential, kayenta, "
        "threshold, ratio, or install the package of the plugin that provides it (entry-point group "
        "meshroll.engines)\n"
    )


def test_bench_replays_our_scenarios_through_a_plugin_beside_sequential(tmp_path: Path) -> None:
    site = install_ratio(tmp_path / "site")
    result = meshroll(site, "bench", "analysis", "--replays", "2", "--engine", "sequential", "--engine", "ratio")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ratio | ")]
    assert rows and any(line.startswith("| sequential | ") for line in result.stdout.splitlines())
    unknown = meshroll(site, "bench", "analysis", "--replays", "1", "--engine", "bayes")
    assert (
        unknown.returncode == 1
        and "use one of sequential, kayenta, threshold, kayenta-1m, naive, oracle, ratio" in (unknown.stderr)
    )
    install(site, "another-ratio", {"ratio": "meshroll_ratio:RatioJudge"})
    twice = meshroll(site, "bench", "analysis", "--replays", "1", "--engine", "ratio")
    assert twice.returncode == 1 and "'ratio' are installed 2 times" in twice.stderr, "not 'unknown engine'"
