"""Where each value of a YAML document stands: path -> (line, column), both 1-based."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

Path = tuple[str | int, ...]


@dataclass
class PositionMap:
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[Path, str]] = field(default_factory=list)

    def locate(self, path: Path) -> tuple[int, int]:
        """The position of ``path`` or of its nearest written ancestor."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return (1, 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def map_positions(node: yaml.Node | None) -> PositionMap:
    """Walk a composed YAML node tree, recording the position of every key and item."""
    result = PositionMap()
    if node is None:
        return result
    result.positions[()] = _mark(node)
    _walk(node, (), result)
    return result


def _walk(node: yaml.Node, path: Path, result: PositionMap) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                result.duplicates.append((child, key))
            seen.add(key)
            result.positions.setdefault(child, _mark(key_node))
            _walk(value_node, child, result)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            result.positions[child] = _mark(item)
            _walk(item, child, result)
