"""Shared helpers: run ``meshroll import`` as a user would, and read what it wrote."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from rollout.cli import app

PEER_SPECS = Path("/work/shared/peer-specs")


@dataclass
class Imported:
    code: int
    text: str  # the YAML written to -o
    stderr: str

    @property
    def experiment(self) -> dict[str, Any]:
        documents = [d for d in yaml.safe_load_all(self.text) if d]
        assert len(documents) == 1, documents
        return dict(documents[0])

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.experiment["spec"])

    @property
    def comments(self) -> str:
        """The comments above the Experiment, bullets and wrapping undone: one line, items joined by spaces."""
        lines = [line for line in self.text.splitlines() if line.startswith("#")]
        return " ".join(re.sub(r"^#\s*(- )?", "", line).strip() for line in lines)


def run_import(folder: Path, *files: Path | str, options: tuple[str, ...] = ()) -> Imported:
    out = folder / "imported.yaml"
    result = CliRunner().invoke(app, ["import", *map(str, files), "-o", str(out), *options])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = out.read_text() if out.exists() else ""
    return Imported(result.exit_code, text, result.stderr)


def write_rollout(folder: Path, canary: str, metadata: str = "{name: billing, namespace: fin}", more: str = "") -> Path:
    """A canary Rollout whose spec.strategy.canary is ``canary`` (YAML), with the documents ``more`` after it."""
    path = folder / "rollout.yaml"
    path.write_text(
        f"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {metadata}\nspec:\n  strategy:\n    canary:\n"
        + "".join(f"      {line}\n" for line in canary.strip().splitlines())
        + (f"---\n{more}" if more else "")
    )
    return path


@pytest.fixture
def peer() -> Path:
    if not PEER_SPECS.is_dir():
        pytest.skip("the peer specs are not present")
    return PEER_SPECS
