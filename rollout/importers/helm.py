"""Unrendered Helm templates in an input file: refused in one line, with the line and what to run first. Pure.

A chart's templates hold actions such as ``{{ .Values.x }}``, ``{{ .Release.Name }}``, ``{{ include ... }}``
and ``{{- ... -}}``. Imported as they are, they either break the YAML or, quoted, become literal values
(a header match on the text ``{{ .Values.canaryHeader }}`` routes nobody). Flagger's and Argo's own
placeholders (``{{ target }}``, ``{{ namespace }}``, ``{{ interval }}``, ``{{ variables.x }}``,
``{{args.x}}``) are translated, and Argo notification templates (``{{.rollout.metadata.name}}``, ``{{if ...}}``,
``{{end}}``) sit in ConfigMaps the importer does not translate: neither is taken for Helm.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from rollout.importers.errors import ImporterError

# Helm's built-in objects (capitalised: Argo's notification templates use .rollout, .app) and its functions
_HELM_OBJECT = re.compile(
    r"{{[^{}\n]*?(?<![\w.])\$?\.(?:Values|Release|Chart|Capabilities|Files|Template)\b[^{}\n]*(?:}})?"
)
_HELM_FUNCTION = re.compile(r"{{-?\s*(?:include|template|tpl|toYaml|toJson|required|lookup|fromYaml)\s[^{}\n]*(?:}})?")
_TRIM_MARKER = re.compile(r"{{-\s[^{}\n]*(?:}})?|{{[^{}\n]*\s-}}")  # Go templates' whitespace trimming
_UNTRANSLATED_KINDS = ("ConfigMap", "Secret")  # may hold other tools' Go templates (Argo notifications)


def refuse_unrendered(text: str, name: str, documents: list[Any] | None) -> None:
    """ImporterError naming the first Helm action's line when the file is an unrendered chart template.

    ``documents``: the parsed documents (None when the YAML did not parse: then every line is read, and
    a trimming marker counts too). Parsed, the strings of ConfigMaps and Secrets are read for Helm's own
    objects only (.Values, .Release, ...), since other tools keep Go templates there."""
    found = _first_in_text(text) if documents is None else _first_in_documents(documents)
    if found is None:
        return
    line, column = _position(text, found)
    where = f"{name}:{line}:{column}" if line else name
    shown = found if len(found) <= 50 else found[:47] + "..."
    raise ImporterError(
        f"{where}: an unrendered Helm template ({shown}): meshroll import reads manifests, not chart templates; "
        "render the chart first (helm template RELEASE CHART -f VALUES > rendered.yaml) and import the rendered file"
    )


def _first_in_text(text: str) -> str | None:
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        found = _helm(line, everything=True)
        if found is not None:
            return found
    return None


def _first_in_documents(documents: list[Any]) -> str | None:
    for document in documents:
        if not isinstance(document, dict):
            continue
        translated = str(document.get("kind", "")) not in _UNTRANSLATED_KINDS
        for text in _strings(document):
            found = _helm(text, everything=translated)
            if found is not None:
                return found
    return None


def _helm(text: str, everything: bool) -> str | None:
    """The first Helm action in ``text``: Helm's objects only, or (``everything``) its functions and
    trimming markers too."""
    patterns = (_HELM_OBJECT, _HELM_FUNCTION, _TRIM_MARKER) if everything else (_HELM_OBJECT,)
    hits = [m for m in (p.search(text) for p in patterns) if m is not None]
    return min(hits, key=lambda m: m.start()).group(0).strip() if hits else None


def _strings(value: Any) -> Iterator[str]:
    """Every string of a parsed document, keys included, in file order."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            for key, child in reversed(list(current.items())):
                stack.append(child)
                stack.append(key)
        elif isinstance(current, list):
            stack.extend(reversed(current))


def _position(text: str, found: str) -> tuple[int, int]:
    """Line and column (from 1) of the first place ``found`` appears, else (0, 0); a string the YAML
    folded or escaped is searched for by its first line."""
    needle = found.splitlines()[0] if found else found
    at = text.find(needle)
    if at < 0:
        return 0, 0
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1
