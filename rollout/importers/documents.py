"""Peer manifests as read from files: each YAML document with its file, kind and name. Pure apart from reading."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rollout.importers.errors import ImporterError
from rollout.importers.helm import refuse_unrendered

MAX_FILE_BYTES = 1 << 20

PathPart = str | int
DocPath = tuple[PathPart, ...]


def format_path(path: DocPath) -> str:
    """``("spec", "steps", 2, "pause")`` -> ``spec.steps[2].pause``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


def show_value(value: Any) -> str:
    """A value of an input file as YAML writes it on one line (``true``, ``null``, ``'30s'``, ``{exact: x}``)."""
    style = ('"' if "\n" in value else "'") if isinstance(value, str) else None
    text = yaml.safe_dump(value, default_flow_style=True, default_style=style, width=1 << 30, allow_unicode=True)
    return text.removesuffix("\n...\n").strip()


@dataclass
class PeerDocument:
    """One YAML document of an input file; ``used`` records which parts were translated."""

    file: str
    data: dict[str, Any]
    used: set[DocPath] = field(default_factory=set)

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion", ""))

    @property
    def name(self) -> str:
        metadata = self.data.get("metadata")
        return str(metadata.get("name", "")) if isinstance(metadata, dict) else ""

    @property
    def namespace(self) -> str | None:
        metadata = self.data.get("metadata")
        value = metadata.get("namespace") if isinstance(metadata, dict) else None
        return str(value) if value is not None else None

    def where(self, path: DocPath) -> str:
        return f"{self.file}:{format_path(path)}"

    def peek(self, *path: PathPart, default: Any = None) -> Any:
        """The value at ``path`` (or ``default``), not marked: its parts are still to be translated."""
        current: Any = self.data
        for part in path:
            in_mapping = isinstance(current, dict) and isinstance(part, str) and part in current
            in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
            if not (in_mapping or in_list):
                return default
            current = current[part]
        return current

    def get(self, *path: PathPart, default: Any = None) -> Any:
        """The value at ``path`` (or ``default``), marked as translated (with everything under it)."""
        missing = object()
        value = self.peek(*path, default=missing)
        if value is missing:
            return default
        self.used.add(tuple(path))
        return value

    def leftovers(self, root: DocPath = ("spec",)) -> Iterator[tuple[DocPath, Any]]:
        """Every part under ``root`` that nothing translated: the shallowest such paths, in file order."""
        value = self.data
        for part in root:
            if not isinstance(value, dict) or part not in value:
                return
            value = value[part]
        yield from self._walk(root, value)

    def _walk(self, path: DocPath, value: Any) -> Iterator[tuple[DocPath, Any]]:
        if path in self.used:
            return
        below = [u for u in self.used if len(u) > len(path) and u[: len(path)] == path]
        if not below:
            yield path, value
            return
        children: list[tuple[PathPart, Any]] = []
        if isinstance(value, dict):
            children = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = list(enumerate(value))
        for key, child in children:
            yield from self._walk((*path, key), child)


def read_documents(path: Path) -> list[PeerDocument]:
    """Every mapping document of a YAML file (``-``: standard input, as ``kubectl get canary NAME -o yaml |
    meshroll import -`` gives it); ImporterError (one line) when it cannot be read or parsed."""
    name = str(path)
    if name == "-":
        try:
            text = sys.stdin.read(MAX_FILE_BYTES + 1)
        except UnicodeDecodeError:
            raise ImporterError("-: standard input is not UTF-8 text") from None
        if len(text) > MAX_FILE_BYTES:
            raise ImporterError("-: standard input is larger than 1 MiB; is it a Kubernetes manifest?")
        return parse_documents(text, "-")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImporterError(f"{name}: the file is larger than 1 MiB; is it a Kubernetes manifest?")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImporterError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImporterError(f"{name}: is a folder; name the YAML files in it") from None
    except UnicodeDecodeError:
        raise ImporterError(f"{name}: is not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise ImporterError(f"{name}: cannot be read: {exc.strerror or exc}") from None
    return parse_documents(text, name)


def parse_documents(text: str, name: str) -> list[PeerDocument]:
    """The documents of ``text``; ImporterError in one line when it is not YAML or is an unrendered Helm
    chart template (said as such whether or not its placeholders break the YAML)."""
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.MarkedYAMLError as exc:
        refuse_unrendered(text, name, None)
        mark = exc.problem_mark or exc.context_mark
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ImporterError(f"{where}: not valid YAML: {problem}; fix the syntax and import again") from None
    except RecursionError:
        raise ImporterError(f"{name}: nested too deeply to read; is it a Kubernetes manifest?") from None
    except yaml.YAMLError as exc:
        refuse_unrendered(text, name, None)
        raise ImporterError(f"{name}: not valid YAML ({type(exc).__name__}); fix the syntax and import again") from None
    documents = list(_unpacked(loaded))
    refuse_unrendered(text, name, documents)
    return [PeerDocument(name, doc) for doc in documents]


def _unpacked(loaded: list[Any]) -> Iterator[dict[str, Any]]:
    """Mapping documents, with the items of a ``kind: List`` (what ``kubectl get -o yaml`` writes) in its place."""
    for doc in loaded:
        if not isinstance(doc, dict):
            continue
        items = doc.get("items")
        if str(doc.get("kind", "")).endswith("List") and isinstance(items, list):
            yield from (item for item in items if isinstance(item, dict))
        else:
            yield doc


@dataclass
class Library:
    """Every document given, for looking up what a Canary or Rollout references."""

    documents: list[PeerDocument]

    def find(self, kinds: tuple[str, ...], name: str, namespace: str | None = None) -> PeerDocument | None:
        """The document of one of ``kinds`` named ``name``, preferring the one in ``namespace``."""
        found = [d for d in self.documents if d.kind in kinds and d.name == name]
        same = [d for d in found if namespace is None or d.namespace in (None, namespace)]
        candidates = same or found
        return candidates[0] if candidates else None

    def of_kind(self, *kinds: str) -> list[PeerDocument]:
        return [d for d in self.documents if d.kind in kinds]
