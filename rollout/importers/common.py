"""Steps both importers take: required fields, durations, the run's deadline, and notes for the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rollout.importers.documents import DocPath, PeerDocument, format_path, show_value
from rollout.importers.draft import DEFAULT_MAX_DURATION, Draft, Note
from rollout.importers.errors import ImporterError
from rollout.importers.metrics import arm_services
from rollout.spec.durations import format_duration, parse_duration

Hint = tuple[tuple[str, ...], str]  # a path pattern ("*" matches any one part) and what to do instead
FALLBACK_HINT = "meshroll has no equivalent; review it by hand and drop it, or express it outside the Experiment"


def required(document: PeerDocument, path: DocPath, hint: str) -> Any:
    """The value at ``path``; ImporterError in one line when it is missing or empty."""
    value = document.peek(*path)
    if value is None or value == "" or value == {}:
        raise ImporterError(f"{document.where(path)}: required field missing: {hint}")
    return value


def duration(document: PeerDocument, path: DocPath, value: Any, default: float, what: str) -> float:
    """Seconds from a peer's duration (``1m``, ``30s``, or seconds), ``default`` when not given;
    ImporterError in one line when it is given but unreadable or not above 0 (a default in its place
    would change the schedule of the file you apply)."""
    if value is None:
        return default
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ImporterError(
            f"{document.where(path)}: {what} {show_value(value)} is not a duration; write it like 30s, 1m or 1h"
        ) from None
    if seconds <= 0:
        raise ImporterError(f"{document.where(path)}: {what} {show_value(value)} is not above 0; give a duration")
    return seconds


def whole_number(document: PeerDocument, path: DocPath, low: int, high: int | None, what: str) -> int | None:
    """The whole number at ``path`` (marked translated), None when not given; ImporterError in one line when
    it is another type or out of ``low``..``high``: a bad value is refused, never replaced by a default."""
    value = document.get(*path)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ImporterError(f"{document.where(path)}: {show_value(value)} is not a number; give {what}")
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise ImporterError(f"{document.where(path)}: {value} is out of range; give {what} {span}")
    return value


def set_deadline(draft: Draft, planned: float) -> None:
    """analysis.maxDuration: twice the planned schedule, at least an hour, and say why."""
    draft.max_duration = max(DEFAULT_MAX_DURATION, 2 * planned)
    draft.choose(
        f"analysis.maxDuration {format_duration(draft.max_duration)}: twice the peer's schedule "
        f"({format_duration(planned)}), at least 1h: meshroll holds a step until the evidence is in, so a run "
        "may take longer than the schedule; past maxDuration an open question is Inconclusive"
    )


def mirror_only(draft: Draft, peer: str, step_interval: str) -> str:
    """What a mirror-only import loses: the promotion the peer makes after mirroring, and how to get it."""
    return (
        f"{peer} promotes after the mirrored analysis, but a mirror-only Experiment never promotes: the run ends "
        "Completed with all traffic still on stable, so the release does not go out. To release it, apply a "
        f"second Experiment under another name with spec.after: [{{name: {draft.name}}}] and strategy.canary (e.g. "
        f"{{steps: [50], stepInterval: {step_interval}}}) in place of strategy.mirror: it starts once this run "
        "has completed, and promotes"
    )


def operator_command(draft: Draft, command: str) -> str:
    """The ``kubectl annotate`` that gives this Experiment's run an operator command (README, "Status,
    conditions and commands")."""
    namespace = draft.namespace or "default"
    return f"kubectl annotate experiment {draft.name} -n {namespace} meshroll.io/command={command} --overwrite"


def failed_checks(count: int) -> str:
    """``1 failed check``, ``10 failed checks``."""
    return f"{count} failed check{'' if count == 1 else 's'}"


def workloads(draft: Draft) -> str:
    """How the two versions' pods must be told apart for the built-in metrics of the draft's mesh."""
    service = draft.target["service"]
    stable, canary = draft.target["stable"]["version"], draft.target["canary"]["version"]
    if draft.mesh_family == "linkerd":
        return (
            f"Deployments named {service}-{stable} and {service}-{canary}: Linkerd's metrics select on the "
            "deployment label"
        )
    return f"pods labelled version: {stable} / {canary}, the label the built-in metrics select on"


def metrics_select(draft: Draft) -> str:
    """Whose traffic the built-in metrics of the draft will select, for the note on spec.target."""
    service = draft.target["service"]
    if draft.mesh_family == "linkerd":
        return "Linkerd's metrics select no Service but the two Deployments named below"
    services = arm_services(draft)
    if services is not None:
        return (
            f"the built-in metrics select the traffic of the Services {services[0]} and {services[1]}, the "
            "HTTPRoute's backends (spec.target.stable.service and canary.service)"
        )
    selected = f'destination_service_name="{service}"'
    return f"the built-in metrics select the traffic to {service} ({selected}), the host whose subsets the run routes"


def version_selector(draft: Draft) -> str:
    """A label selector that tells the arms apart on the draft's mesh, as an example for a custom query."""
    if draft.mesh_family == "linkerd":
        return 'deployment="{{service}}-{{version}}"'
    return 'destination_version="{{version}}"'


def _matches(path: DocPath, pattern: tuple[str, ...]) -> bool:
    if len(path) < len(pattern):
        return False
    return all(p == "*" or p == str(part) for part, p in zip(path, pattern, strict=False))


def note_leftovers(draft: Draft, document: PeerDocument, hints: Sequence[Hint], roots: Sequence[DocPath]) -> None:
    """A note for every part under ``roots`` that nothing translated, with the most specific hint."""
    for root in roots:
        for path, value in list(document.leftovers(root)):
            if path and isinstance(path[-1], int) and isinstance(value, dict) and len(value) == 1:
                key = next(iter(value))  # a list item of one kind (an Argo step): name the kind
                path, value = (*path, str(key)), value[key]
            best = max((h for h in hints if _matches(path, h[0])), key=lambda h: len(h[0]), default=None)
            message = best[1] if best is not None else FALLBACK_HINT
            shown = f"{_show(value)}: " if not isinstance(value, dict | list) else ""
            draft.skip(document, path, f"{shown}{message}")


def _show(value: Any) -> str:
    text = show_value(value)
    return text if len(text) <= 40 else text[:37] + "..."


def matched_defaults(document: PeerDocument, defaults: Sequence[tuple[DocPath, Any]]) -> None:
    """Fields written at the peer's default where meshroll behaves the same: nothing is lost, so no note."""
    missing = object()
    for path, default in defaults:
        value = document.peek(*path, default=missing)
        if type(value) is type(default) and value == default:  # False, not 0
            document.used.add(path)


def note_namespace(draft: Draft, what: str) -> None:
    """A release without metadata.namespace: say where meshroll and kubectl will put the Experiment."""
    if draft.namespace is None:
        draft.choose(
            f"metadata.namespace: the {what} names none, so neither does the Experiment: meshroll reads it as "
            "namespace default (kubectl applies it to your context's namespace); write the namespace of the "
            f"{what}'s routes and Services"
        )


def unused_documents(documents: Sequence[PeerDocument]) -> list[Note]:
    """Notes on input documents no Canary or Rollout used (not Services or VirtualServices read for context)."""
    notes: list[Note] = []
    for document in documents:
        if not document.used:
            what = f"{document.kind or 'a document without kind'} {document.name}".strip()
            notes.append(
                Note(
                    document.file,
                    format_path(()),
                    f"{what}: no imported Canary or Rollout references it; import it together with the one that "
                    "does, or leave it out",
                )
            )
    return notes
