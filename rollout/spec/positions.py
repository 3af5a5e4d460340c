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


MAX_DEPTH = 40
MAX_VALUES = 100_000


def shape_problem(node: yaml.Node) -> str | None:
    """Why a composed document is no experiment whatever its keys say, or None: nested deeper than
    ``MAX_DEPTH``, an alias (``*name``) inside its own anchor, or more than ``MAX_VALUES`` values
    once aliases are expanded (a few nested aliases, "billion laughs", multiply them)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(current: yaml.Node, depth: int) -> int:
        known = sizes.get(id(current))
        if known is not None:
            return known
        if id(current) in open_nodes:
            raise _Shape("an alias (*name) stands inside its own anchor (&name); a document cannot contain itself")
        if depth > MAX_DEPTH:
            raise _Shape(f"values are nested more than {MAX_DEPTH} levels deep; an experiment needs far fewer")
        children: list[yaml.Node] = []
        if isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        elif isinstance(current, yaml.SequenceNode):
            children = list(current.value)
        open_nodes.add(id(current))
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(id(current))
        if total > MAX_VALUES:
            raise _Shape(
                f"the document holds more than {MAX_VALUES:,} values once its aliases (*name) are expanded; "
                "an experiment needs far fewer: write the values out"
            )
        sizes[id(current)] = total
        return total

    try:
        size(node, 0)
    except _Shape as exc:
        return str(exc)
    return None


class _Shape(Exception):
    pass


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
