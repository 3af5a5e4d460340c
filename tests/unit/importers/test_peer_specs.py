"""Every Flagger Canary and Argo Rollout among the real peer files imports to an Experiment that validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rollout.cli import app
from tests.unit.importers.conftest import PEER_SPECS, run_import


def _holds_canary_or_rollout(path: Path) -> bool:
    kinds = {d.get("kind") for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)}
    return bool(kinds & {"Canary", "Rollout"})


RELEASES = sorted(p.name for p in PEER_SPECS.glob("*.yaml") if _holds_canary_or_rollout(p))


def test_the_peer_files_hold_canaries_and_rollouts_to_import() -> None:
    if not PEER_SPECS.is_dir():
        pytest.skip("the peer specs are not present")
    assert len(RELEASES) >= 6, RELEASES


@pytest.mark.parametrize("name", RELEASES)
def test_each_canary_and_rollout_imports_alone_and_passes_meshroll_validate(
    peer: Path, tmp_path: Path, name: str
) -> None:
    imported = run_import(tmp_path, peer / name)
    assert imported.code == 0, imported.stderr
    validated = CliRunner().invoke(app, ["validate", str(tmp_path / "imported.yaml")])
    assert validated.exit_code == 0, validated.output
    assert "# Imported by `meshroll import` from" in imported.text


@pytest.mark.parametrize("engine", ["sequential", "threshold"])
def test_both_engines_give_valid_experiments(peer: Path, tmp_path: Path, engine: str) -> None:
    for name in RELEASES:
        imported = run_import(tmp_path, peer / name, options=("--engine", engine))
        assert imported.code == 0, imported.stderr
        assert CliRunner().invoke(app, ["validate", str(tmp_path / "imported.yaml")]).exit_code == 0, name


def test_the_same_input_gives_the_same_output_byte_for_byte(peer: Path, tmp_path: Path) -> None:
    files = [peer / "argo-rollout-istio.yaml", peer / "argo-analysistemplate-prometheus.yaml"]
    first = run_import(tmp_path, *files)
    second = run_import(tmp_path, *files)
    assert first.text == second.text and first.stderr == second.stderr
