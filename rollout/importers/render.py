"""An Experiment as reviewable YAML: how it was translated and what was not, as comments above it. Pure."""

from __future__ import annotations

import textwrap
from typing import Any

import yaml

from rollout.importers.draft import Draft

WIDTH = 110


class _Dumper(yaml.SafeDumper):
    """Block style, keys in the order given, multi-line queries as literal blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def _bullets(items: list[str]) -> list[str]:
    lines: list[str] = []
    for item in dict.fromkeys(items):  # once each, in the order first said
        wrapped = textwrap.wrap(item, WIDTH - 6, break_long_words=False, break_on_hyphens=False) or [""]
        lines.append(f"#   - {wrapped[0]}")
        lines.extend(f"#     {rest}" for rest in wrapped[1:])
    return lines


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=WIDTH, allow_unicode=True)


def render(draft: Draft) -> str:
    """The Experiment's YAML with its comments."""
    source = draft.source
    key = f"{source.namespace}/{source.name}" if source.namespace else source.name
    lines = [
        f"# Imported by `meshroll import` from {'standard input' if source.file == '-' else source.file} "
        f"({draft.peer} {key}). Review it before applying.",
        "# How it was translated:",
        *_bullets(draft.choices),
    ]
    if draft.notes:
        lines.append("# Not translated (also printed on stderr):")
        lines.extend(_bullets([f"{n.file}:{n.path}: {n.message}" for n in draft.notes]))
    return "\n".join(lines) + "\n" + to_yaml(draft.experiment())
