"""Translate Flagger and Argo Rollouts manifests into meshroll Experiments, saying what did not translate.

``import_files`` reads every document of the files given (so a Canary and its MetricTemplates, or a
Rollout and its AnalysisTemplates, VirtualService and Services, may sit in different files), turns
each Flagger ``Canary`` and Argo ``Rollout`` into one Experiment, and checks the result the way
``meshroll validate`` does. Pure apart from reading the input files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.threshold import FAILURE_THRESHOLD
from rollout.importers.argo import is_rollout, translate_rollout
from rollout.importers.common import failed_checks, unused_documents
from rollout.importers.documents import Library, PeerDocument, read_documents
from rollout.importers.draft import Draft
from rollout.importers.errors import ImporterError
from rollout.importers.flagger import is_canary, translate_canary
from rollout.importers.render import render
from rollout.spec.loader import SpecError, load_experiments_text

ENGINES = ("sequential", "threshold")

__all__ = ["ENGINES", "ImportResult", "ImporterError", "engine_problem", "import_documents", "import_files"]


@dataclass(frozen=True)
class ImportResult:
    text: str  # every Experiment, as one multi-document YAML file with comments
    notes: list[str]  # one line per part not translated: FILE:path: not translated: what, and what to do
    keys: list[str]  # namespace/name of each Experiment written


def engine_problem(engine: str) -> str | None:
    """Why ``--engine engine`` cannot be imported for, or None when it can."""
    if engine in ENGINES:
        return None
    if engine == "kayenta":
        return (
            "--engine 'kayenta': meshroll import writes sequential or threshold Experiments only: a Kayenta "
            "canary config's metrics live in Kayenta, not in the files imported; import with one of those and "
            "change analysis.engine to kayenta by hand, with the config's metrics under analysis.metrics"
        )
    return f"--engine '{engine}': use one of {', '.join(ENGINES)}"


def import_files(paths: Sequence[Path], engine: str = "sequential") -> ImportResult:
    paths = list(dict.fromkeys(paths))  # a file named twice is read once
    documents = [document for path in paths for document in read_documents(path)]
    return import_documents(documents, [str(p) for p in paths], engine)


def import_documents(documents: list[PeerDocument], names: list[str], engine: str = "sequential") -> ImportResult:
    problem = engine_problem(engine)
    if problem is not None:
        raise ImporterError(problem)
    library = Library(documents)
    drafts: list[Draft] = []
    for document in documents:
        if is_canary(document):
            drafts.append(translate_canary(document, library, engine))
        elif is_rollout(document):
            drafts.append(translate_rollout(document, library, engine))
    if not drafts:
        raise ImporterError(_nothing_to_import(documents, names))
    _refuse_twice(drafts)
    for note in unused_documents(documents):  # with the release from the same file (else the first)
        next((d for d in drafts if d.source.file == note.file), drafts[0]).notes.append(note)
    parts: list[str] = []
    notes: list[str] = []
    for draft in drafts:
        _explain_engine(draft)
        text = render(draft)
        _check(text, draft)
        parts.append(text)
        notes.extend(str(n) for n in draft.notes)
    keys = [f"{d.namespace or 'default'}/{d.name}" for d in drafts]
    return ImportResult("---\n".join(parts), notes, keys)


def _nothing_to_import(documents: list[PeerDocument], names: list[str]) -> str:
    """Why nothing was imported: the kinds seen, and a fragment (documents without apiVersion and kind, such as
    a spec body copied from the docs) said as such."""
    kinds = sorted({d.kind for d in documents if d.kind}) or ["none"]
    found = f"{', '.join(names)}: no Flagger Canary or Argo Rollouts Rollout found (kinds seen: {', '.join(kinds)})"
    fragments = sum(1 for d in documents if not d.kind and not d.api_version)
    if fragments:
        have = "1 document has" if fragments == 1 else f"{fragments} documents have"
        return (
            f"{found}: {have} no apiVersion and kind, a fragment (such as a spec body copied from the docs); give "
            "whole manifests: the Canary or Rollout, with its templates"
        )
    return f"{found}; give the file that holds the Canary or Rollout, with its templates"


def _refuse_twice(drafts: list[Draft]) -> None:
    """Two Experiments with one namespace/name cannot share a file (``meshroll validate`` refuses it)."""
    seen: dict[str, Draft] = {}
    for draft in drafts:
        key = f"{draft.namespace or 'default'}/{draft.name}"
        first = seen.setdefault(key, draft)
        if first is not draft:
            raise ImporterError(
                f"{draft.source.file}: {draft.peer} {key} is also in {first.source.file}: an output file holds one "
                "Experiment per name; import them separately (each with its own -o) or rename one"
            )


def _explain_engine(draft: Draft) -> None:
    ranges = any("thresholdRange" in metric for metric in draft.metrics)
    if draft.engine == "threshold":
        count = (
            f"{failed_checks(draft.failure_threshold)} (analysis.failureThreshold)"
            if draft.failure_threshold is not None
            else f"{FAILURE_THRESHOLD} failed checks (the default of analysis.failureThreshold)"
        )
        checked = (
            "the peer's fixed ranges (thresholdRange), checked on the canary alone each step as the peer did"
            if ranges
            else "no metric has a fixed range (thresholdRange), so it checks nothing: set ranges by hand"
        )
        draft.choose(f"analysis.engine threshold (--engine threshold): {checked}; rollback after {count}")
        return
    kept = (
        "; the peer's fixed ranges are kept as thresholdRange, read only by engine: threshold (import with "
        "--engine threshold to judge by them as the peer did)"
        if ranges
        else ""
    )
    draft.choose(
        "analysis.engine sequential: compares canary with stable and bounds false rollbacks by analysis.alpha; "
        "the error and latency metrics' margins are relative (0.1: 10% more errors, or 10% more slow requests)"
        f"{_gauge_margins(draft)}{kept}"
    )


def _gauge_margins(draft: Draft) -> str:
    """The gauges' margins, which are absolute, in the unit of each query's result: each with its value, so
    that a user can check it against the metric's scale."""
    gauges = {t["name"] for t in draft.templates if t.get("kind") == "gauge"}
    listed = [m for m in draft.metrics if m["template"] in gauges]
    if not listed:
        return ""
    return (
        "; a gauge's margin is not relative but absolute, in the unit of its query's result: "
        + "; ".join(_gauge_margin(metric) for metric in listed)
        + " (for a success rate from 0 to 1, a margin of 0.1 tolerates a 10-point drop; for one in percent, 0.1 "
        "points): check each against its query's scale and set the difference you tolerate"
    )


def _gauge_margin(metric: dict[str, Any]) -> str:
    margin = float(metric.get("margin", 0.1))
    side = {"increase": "above", "decrease": "below"}.get(str(metric.get("direction")), "either side of")
    bounds = metric.get("thresholdRange") or {}
    shown = f" (range {', '.join(f'{k} {v:g}' for k, v in bounds.items())})" if bounds else ""
    return f"{metric['name']}{shown} margin {margin:g}: the canary may be up to {margin:g} {side} stable"


def _check(text: str, draft: Draft) -> None:
    """The output through the same loading and checks as ``meshroll validate``."""
    try:
        load_experiments_text(text, f"{draft.source.file} (imported)")
    except SpecError as exc:
        first = exc.problems[0]
        raise ImporterError(
            f"{draft.source.file}: the imported Experiment does not validate: {first.path}: {first.message}; "
            "fix the input or write that field by hand"
        ) from None
