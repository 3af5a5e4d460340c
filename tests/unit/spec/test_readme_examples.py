"""Every whole Experiment the README shows passes `meshroll validate`: the docs cannot drift from the rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rollout.spec import load_experiment_text

README = Path(__file__).resolve().parents[3] / "README.md"
BLOCKS = [b for b in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S) if b.startswith("apiVersion:")]


def test_the_readme_shows_at_least_its_main_example() -> None:
    assert BLOCKS and "name: checkout-v2" in BLOCKS[0]


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_a_readme_experiment_validates(block: str) -> None:
    load_experiment_text(block, "README.md")
